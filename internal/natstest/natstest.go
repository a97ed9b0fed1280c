// Package natstest runs an embedded nats-server with JetStream for tests: a real server in
// the test process, with its own store directory, on a free loopback port, shut down when
// the test ends. Parallel tests each get their own server; use unique stream and subject
// names anyway, so that a test can share a server between its subtests.
//
// Fault tests that kill and restart the server as a separate process use
// internal/testbin.StartNATSServer instead.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ReadyTimeout bounds how long RunServer waits for the server to accept connections.
const ReadyTimeout = 10 * time.Second

// Options returns the options RunServer uses: JetStream with a store under t.TempDir(),
// a random port on 127.0.0.1, no logging, no signal handlers.
func Options(t testing.TB) *server.Options {
	t.Helper()
	return &server.Options{
		JetStream: true,
		StoreDir:  t.TempDir(),
		Host:      "127.0.0.1",
		Port:      -1,
		NoLog:     true,
		NoSigs:    true,
	}
}

// RunServer starts an embedded JetStream server with Options and returns once it accepts
// connections. It is shut down, and waited for, when the test ends.
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	return RunServerWithOptions(t, nil)
}

// RunServerWithOptions is RunServer with the options changed by configure (which may be nil)
// before the server starts, for example to set MaxPayload or a server name.
func RunServerWithOptions(t testing.TB, configure func(*server.Options)) *server.Server {
	t.Helper()
	opts := Options(t)
	if configure != nil {
		configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	go s.Start()
	if !s.ReadyForConnections(ReadyTimeout) {
		t.Fatalf("natstest: server not ready for connections after %v", ReadyTimeout)
	}
	if opts.JetStream && !s.JetStreamEnabled() {
		t.Fatalf("natstest: JetStream did not start (store %s)", opts.StoreDir)
	}
	return s
}

// Connect connects a client to s with the given options; the connection is closed when the
// test ends (closing it earlier is fine).
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// RunRestartable is RunServer for a test that restarts the server: restart shuts it down and
// starts it again on its port and store, as a restart of the process would — clients
// reconnect, JetStream's file streams survive and its memory streams do not. Connect with
// ReconnectOptions so that a client waits out the restart.
func RunRestartable(t testing.TB) (s *server.Server, restart func()) {
	t.Helper()
	var opts *server.Options
	s = RunServerWithOptions(t, func(o *server.Options) { opts = o })
	return s, func() {
		t.Helper()
		again := *opts
		again.Port = s.Addr().(*net.TCPAddr).Port
		s.Shutdown()
		s.WaitForShutdown()
		s = RunServerWithOptions(t, func(o *server.Options) { *o = again })
	}
}

// ReconnectOptions make a client reconnect at once and for ever, for tests that restart the
// server.
var ReconnectOptions = []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}
