package processors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// MaxOutput bounds what an exec processor's program may write to stdout for one row group.
const MaxOutput = 1 << 30

const (
	// stderrKeep is how much of the end of a program's stderr is kept for errors.
	stderrKeep = 64 << 10
	// stderrLines is how many of its last lines an error quotes.
	stderrLines = 20
	// waitDelay bounds how long Process waits for a program's output to close once the
	// program has exited or been killed: a process it started outside its process group
	// could hold stdout open forever.
	waitDelay = 5 * time.Second
)

// Environment variables an exec processor's program gets besides the controller's own.
const (
	EnvProcessor = "ROWFORGE_PROCESSOR" // the processor's name
	EnvStage     = "ROWFORGE_STAGE"     // pre_batch or post_batch
	EnvGroup     = "ROWFORGE_GROUP"     // the row group's index
)

// ExitError is the cause of an exec processor's failure when its program exits with a
// non-zero status or is killed by a signal.
type ExitError struct {
	Program string
	Code    int    // the exit status; -1 when a signal ended the program
	State   string // how it ended, e.g. "exit status 3" or "signal: killed"
	Stderr  string // the last lines of its stderr ("" when it wrote none)
}

func (e *ExitError) Error() string {
	var msg string
	if e.Code >= 0 {
		msg = fmt.Sprintf("%q exited with code %d", e.Program, e.Code)
	} else {
		msg = fmt.Sprintf("%q ended: %s", e.Program, e.State)
	}
	return msg + stderrSuffix(e.Stderr)
}

func stderrSuffix(tail string) string {
	if tail == "" {
		return ""
	}
	return fmt.Sprintf("; stderr (last %d lines at most):\n%s", stderrLines, tail)
}

// execProcessor runs a user's program on each row group.
type execProcessor struct {
	base
	command []string
	timeout time.Duration
}

func newExec(b base, p *config.Processor) (*execProcessor, error) {
	if len(p.Command) == 0 || strings.TrimSpace(p.Command[0]) == "" {
		return nil, fmt.Errorf("processor %q: exec needs a command", p.Name)
	}
	if p.Timeout <= 0 {
		return nil, fmt.Errorf("processor %q: exec needs a positive timeout, got %v", p.Name, p.Timeout)
	}
	return &execProcessor{base: b, command: slices.Clone(p.Command), timeout: p.Timeout}, nil
}

// Process runs the command with the group as JSON lines on stdin and decodes its stdout as
// the processed group. The program runs in its own process group; on timeout or when ctx
// is done the whole group is killed, and Process returns only once the program has been
// waited for.
func (p *execProcessor) Process(ctx context.Context, group int, in *frame.Frame) (Result, error) {
	out, err := p.run(ctx, group, in)
	if err != nil {
		return Result{}, p.fail(group, err)
	}
	return Result{Frame: out}, nil
}

func (p *execProcessor) run(ctx context.Context, group int, in *frame.Frame) (*frame.Frame, error) {
	if in == nil {
		return nil, errors.New("nil frame")
	}
	body, err := EncodeJSONLines(in)
	if err != nil {
		return nil, fmt.Errorf("encode the row group: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	env := []string{EnvProcessor + "=" + p.name, EnvStage + "=" + string(p.stage), EnvGroup + "=" + strconv.Itoa(group)}
	stdout, err := RunProgram(ctx, p.command, env, p.timeout, body)
	if err != nil {
		return nil, err
	}
	out, err := DecodeJSONLines(stdout, in)
	if err != nil {
		return nil, fmt.Errorf("output of %q: %w", p.command[0], err)
	}
	return out, nil
}

// RunProgram runs command (the program, then its arguments) with stdin, the extra environment
// env and a timeout, in its own process group (all of it is killed on timeout or cancellation),
// and returns its stdout (at most MaxOutput bytes). A non-zero exit is an *ExitError with the
// end of its stderr, returned with the stdout; a timeout wraps ErrTimeout.
func RunProgram(ctx context.Context, command, env []string, timeout time.Duration, stdin []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	prog := command[0]
	cmd := exec.CommandContext(tctx, prog, command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	stdout := &limitedBuffer{max: MaxOutput}
	stderr := &tailBuffer{max: stderrKeep}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)

	if err := cmd.Run(); err != nil {
		tail := stderr.lastLines(stderrLines)
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case tctx.Err() != nil:
			return nil, fmt.Errorf("%q %w after %s%s", prog, ErrTimeout, seconds(timeout), stderrSuffix(tail))
		case stdout.over:
			return nil, fmt.Errorf("%q wrote more than %d bytes to stdout", prog, MaxOutput)
		case errors.As(err, &ee): // what it wrote comes with the error: linters exit non-zero to say what they found
			return stdout.buf.Bytes(), &ExitError{Program: prog, Code: ee.ExitCode(), State: ee.ProcessState.String(), Stderr: tail}
		case errors.Is(err, exec.ErrWaitDelay):
			return nil, fmt.Errorf("%q exited, but its stdout or stderr stayed open for %s (a process it started holds them?)", prog, waitDelay)
		}
		return nil, fmt.Errorf("run %q: %w", prog, err)
	}
	return stdout.buf.Bytes(), nil
}

// seconds writes a duration as a number of seconds: "1 s", "2.5 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

var errOutputTooLarge = errors.New("output too large")

// limitedBuffer keeps what is written up to max bytes, then fails the write (which closes the
// pipe the program writes to).
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.over = true
		return 0, errOutputTooLarge
	}
	return b.buf.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.b) + len(p) - t.max; over > 0 {
		t.b = t.b[:copy(t.b, t.b[over:])]
	}
	t.b = append(t.b, p...)
	return n, nil
}

// lastLines returns the last n lines, without trailing newlines.
func (t *tailBuffer) lastLines(n int) string {
	s := strings.TrimRight(string(t.b), "\r\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
