package testbin

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// ReadyTimeout bounds how long StartNATSServer and Restart wait for a nats-server to accept
// client connections.
const ReadyTimeout = 30 * time.Second

var serverSeq atomic.Int64

// StartNATSServer runs the real nats-server binary (see NATSServer) as a child process with
//
//	-js -sd <t.TempDir()> -p <free port> -a 127.0.0.1 -n <unique name> <args...>
//
// and returns once a client can connect to it. args must not set the port, address or
// store directory (p.URL, p.Port and p.StoreDir describe them); a server name in args is
// used instead of the generated one. The returned Process has Kill and Restart for fault
// tests and is stopped when the test ends.
func StartNATSServer(t testing.TB, args ...string) *Process {
	t.Helper()
	bin := NATSServer(t)
	storeDir := t.TempDir()
	name, named := serverNameArg(args)
	if !named {
		name = fmt.Sprintf("testbin-%d-%d", os.Getpid(), serverSeq.Add(1))
	}
	var lastErr error
	// A free port can be taken by someone else between our probe and the server's bind;
	// try again with another one.
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testbin: %v", err)
		}
		full := []string{"-js", "-sd", storeDir, "-p", strconv.Itoa(port), "-a", "127.0.0.1"}
		if !named {
			full = append(full, "-n", name)
		}
		p := newProcess(t, bin, append(full, args...), nil)
		p.URL = fmt.Sprintf("nats://127.0.0.1:%d", port)
		p.Port = port
		p.StoreDir = storeDir
		p.ready = func(p *Process) error { return waitNATSReady(p, name) }
		lastErr = p.start()
		if lastErr == nil {
			return p
		}
		if !strings.Contains(p.Output.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("testbin: %v", lastErr)
	return nil
}

// waitNATSReady polls until a client connects to p.URL and finds the server named name
// (not another test's server that took the port), or the process exits, or ReadyTimeout.
// The errors leave out the server's output: the test's cleanup logs it.
func waitNATSReady(p *Process, name string) error {
	deadline := time.Now().Add(ReadyTimeout)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	done := p.Done()
	var lastErr error
	for {
		nc, err := nats.Connect(p.URL, nats.Name("testbin-readiness"), nats.Timeout(time.Second),
			nats.NoReconnect(), nats.RetryOnFailedConnect(false))
		if err == nil {
			got := nc.ConnectedServerName()
			nc.Close()
			if got == name {
				return nil
			}
			err = fmt.Errorf("port %d is served by %q, not by this server (%q)", p.Port, got, name)
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server not ready after %v: %w", ReadyTimeout, lastErr)
		}
		select {
		case <-done:
			return fmt.Errorf("nats-server exited before it was ready (%v)", p.Wait())
		case <-poll.C:
		}
	}
}

// serverNameArg returns the server name set in nats-server arguments, if any
// (-n, -name, -server_name, with one or two dashes, as "-n x" or "-n=x").
func serverNameArg(args []string) (string, bool) {
	name, found := "", false
	for i, a := range args {
		flag, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (flag != "n" && flag != "name" && flag != "server_name") {
			continue
		}
		if hasVal {
			name, found = val, true
		} else if i+1 < len(args) {
			name, found = args[i+1], true
		}
	}
	return name, found
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: for servers whose
// ports must be known before they start (a cluster's routes).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return p
}
