package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultStopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const DefaultStopGrace = 10 * time.Second

// Process is a child process started by StartProcess or StartNATSServer.
//
// Its methods may be called from any goroutine, except Restart, which must not run
// concurrently with other methods.
type Process struct {
	// URL is the client URL (nats://127.0.0.1:<Port>) of a nats-server started by
	// StartNATSServer, empty for other processes.
	URL string
	// Port is the client port of a nats-server, 0 for other processes.
	Port int
	// StoreDir is the JetStream store directory of a nats-server; it survives Restart.
	StoreDir string
	// Cmd is the current run of the process. Restart replaces it.
	Cmd *exec.Cmd
	// Output holds stdout and stderr of every run, in arrival order.
	Output *Buffer
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL (DefaultStopGrace).
	StopGrace time.Duration

	path string
	args []string
	env  []string
	// ready, if set, is called after each start and returns once the process is usable.
	ready func(*Process) error

	mu  sync.Mutex
	run *run
}

// run is one start of the process.
type run struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is copied
	err  error         // cmd.Wait's result, set before done is closed
}

// StartProcess starts path (a file, or a name looked up in PATH) with args, and with env
// added to the test's environment (later entries win). Stdout and stderr go to p.Output.
// When the test ends the process is stopped (see Stop) and, if the test failed, the tail
// of its output is logged. StartProcess does not wait for the process to be ready: wait
// with p.Output.WaitFor on a log line, or by polling what the process serves.
func StartProcess(t testing.TB, path string, args []string, env []string) *Process {
	t.Helper()
	p := newProcess(t, path, args, env)
	if err := p.start(); err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return p
}

func newProcess(t testing.TB, path string, args, env []string) *Process {
	p := &Process{
		Output:    &Buffer{},
		StopGrace: DefaultStopGrace,
		path:      path,
		args:      append([]string(nil), args...),
		env:       append([]string(nil), env...),
	}
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("testbin: output of %s:\n%s", p.describe(), tail(p.Output.String(), 64<<10))
		}
	})
	return p
}

func (p *Process) describe() string {
	return strings.Join(append([]string{p.path}, p.args...), " ")
}

func (p *Process) start() error {
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	// If the child leaves a grandchild holding its stdout, Wait gives up on copying after this.
	cmd.WaitDelay = 5 * time.Second
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.describe(), err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	p.mu.Lock()
	p.run, p.Cmd = r, cmd
	p.mu.Unlock()
	if p.ready != nil {
		if err := p.ready(p); err != nil {
			p.Kill()
			return fmt.Errorf("%s: %w", p.describe(), err)
		}
	}
	return nil
}

// current returns the current run; before the first successful start, a run that has
// already exited, so that every method is safe to call.
func (p *Process) current() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return notStarted
	}
	return p.run
}

var notStarted = func() *run {
	r := &run{done: make(chan struct{}), err: errors.New("testbin: process not started")}
	close(r.done)
	return r
}()

// Done returns a channel closed when the current run of the process has exited.
func (p *Process) Done() <-chan struct{} { return p.current().done }

// Wait blocks until the current run exits and returns its result as exec.Cmd.Wait does
// (nil for exit status 0, an *exec.ExitError otherwise).
func (p *Process) Wait() error {
	r := p.current()
	<-r.done
	return r.err
}

// WaitContext is Wait bounded by ctx: once ctx is done it returns an error wrapping ctx's
// cause and leaves the process running (the test's cleanup stops it and, on failure, logs its
// output). Tests wait with it for a process expected to exit by itself, so that a hang fails
// that test with every process's output instead of the whole package at -timeout with none.
func (p *Process) WaitContext(ctx context.Context) error {
	r := p.current()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("%s has not exited: %w", p.describe(), context.Cause(ctx))
	}
}

// Exited reports whether the current run has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// Signal sends sig to the current run. It returns os.ErrProcessDone if it has exited.
func (p *Process) Signal(sig os.Signal) error {
	r := p.current()
	if r == notStarted {
		return os.ErrProcessDone
	}
	return r.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to exit. It does nothing if it already has.
func (p *Process) Kill() {
	r := p.current()
	if r == notStarted {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Stop sends SIGTERM, waits up to StopGrace for the process to exit, then sends SIGKILL.
// It returns the exit result (nil if the process exited with status 0, for example after
// a graceful shutdown). Stop is idempotent; the test's cleanup calls it too.
func (p *Process) Stop() error {
	r := p.current()
	if r == notStarted {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	grace := p.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	return r.err
}

// Restart starts the process again with the same arguments and environment (a nats-server
// keeps its port and store directory) after stopping it with Stop if it is still running,
// and returns once it is ready, as the first start did. Output keeps accumulating.
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	if !p.Exited() {
		_ = p.Stop()
	}
	if err := p.start(); err != nil {
		t.Fatalf("testbin: restart: %v", err)
	}
}

// Buffer is a goroutine-safe byte buffer that collects a process's output.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every Write
}

// Write appends b. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, _ := b.buf.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return n, nil
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor blocks until the buffer contains substr, or ctx is done (then it returns an error
// that quotes the end of the buffer).
func (b *Buffer) WaitFor(ctx context.Context, substr string) error {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), substr) {
			b.mu.Unlock()
			return nil
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q in output: %w; output ends with:\n%s",
				substr, context.Cause(ctx), tail(b.String(), 4<<10))
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}
