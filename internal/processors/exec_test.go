package processors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// execProc builds an exec processor running command (a YAML flow list).
func execProc(t *testing.T, command string, extra string) Processor {
	t.Helper()
	return one(t, fmt.Sprintf("processors: [{name: ext, processor_type: exec, command: %s%s}]", command, extra))
}

// shProc builds an exec processor running a /bin/sh script.
func shProc(t *testing.T, script string, extra string) Processor {
	t.Helper()
	return execProc(t, "[/bin/sh, -c, "+strconv.Quote(script)+"]", extra)
}

func TestExecUpper(t *testing.T) {
	t.Parallel()
	p := execProc(t, fmt.Sprintf("[%q, name]", upperBin(t)), "")
	in := testGroup(t)
	res, err := process(t, p, in)
	require.NoError(t, err)
	require.Empty(t, res.Side)
	require.Equal(t, []column{
		// The input's columns keep their order and types (score 2.0 stays a float) ...
		col("name", frame.String, "ANN", "BOB", nil),
		col("n", frame.Int, int64(1), int64(2), nil),
		col("score", frame.Float, 0.5, 2.0, nil),
		col("ok", frame.Bool, false, true, nil),
		col("tmp_a", frame.String, "a0", "a1", "a2"),
		col("tmp_b", frame.String, "b0", "b1", "b2"),
		// ... and the new one is typed by its values: ints and a null.
		col("name_len", frame.Int, int64(3), int64(3), nil),
	}, columns(res.Frame))
	require.Equal(t, "ann", in.Column("name").Strings[0], "the input is not modified")
}

func TestExecEnvironment(t *testing.T) {
	t.Parallel()
	p := shProc(t, `cat >/dev/null; printf '{"p":"%s","s":"%s","g":%s}\n' "$ROWFORGE_PROCESSOR" "$ROWFORGE_STAGE" "$ROWFORGE_GROUP"`, "")
	res, err := process(t, p, testGroup(t))
	require.NoError(t, err)
	require.Equal(t, []column{
		col("p", frame.String, "ext"),
		col("s", frame.String, "post_batch"),
		col("g", frame.Int, int64(7)),
	}, columns(res.Frame))
}

func TestExecResizeIsNotChecked(t *testing.T) {
	t.Parallel()
	res, err := process(t, shProc(t, "head -n 2", ""), testGroup(t))
	require.NoError(t, err, "the controller checks the row count, not the processor")
	require.Equal(t, 2, res.Frame.Len())
	require.Len(t, res.Frame.Columns(), 6)

	res, err = process(t, shProc(t, "cat >/dev/null", ""), testGroup(t))
	require.NoError(t, err)
	require.Equal(t, 0, res.Frame.Len())
	require.Len(t, res.Frame.Columns(), 6, "no output: zero rows with the input's columns")
}

func TestExecExitCode(t *testing.T) {
	t.Parallel()
	p := shProc(t, `echo first >&2; for i in $(seq 1 30); do echo "line $i" >&2; done; exit 3`, "")
	_, err := process(t, p, testGroup(t))
	perr, ok := errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, "ext", perr.Processor)
	require.Equal(t, 7, perr.Group)
	exit, ok := errors.AsType[*ExitError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 3, exit.Code)
	require.Equal(t, "/bin/sh", exit.Program)
	lines := strings.Split(exit.Stderr, "\n")
	require.Len(t, lines, 20)
	require.Equal(t, "line 11", lines[0])
	require.Equal(t, "line 30", lines[19])
	require.ErrorContains(t, err, `processor "ext" (post_batch, row group 7): "/bin/sh" exited with code 3; stderr (last 20 lines at most):`+"\nline 11\n")
	require.NotContains(t, err.Error(), "first")
}

func TestExecKilledBySignal(t *testing.T) {
	t.Parallel()
	_, err := process(t, shProc(t, "kill -9 $$", ""), testGroup(t))
	exit, ok := errors.AsType[*ExitError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, -1, exit.Code)
	require.ErrorContains(t, err, `"/bin/sh" ended: signal: killed`)
}

func TestExecTimeout(t *testing.T) {
	t.Parallel()
	// A real timeout: the script outlives its 1 s. sleep is a child of the shell, and holds
	// the shell's stdout: Process returns at once only because the whole group is killed.
	p := shProc(t, "echo working >&2; sleep 30", ", timeout: 1")
	start := time.Now()
	_, err := process(t, p, testGroup(t))
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorContains(t, err, `"/bin/sh" timed out after 1 s; stderr (last 20 lines at most):`+"\nworking")
	require.Less(t, time.Since(start), waitDelay, "the program's children were killed with it")
}

func TestExecBadOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script, msg string
	}{
		{"garbage", `echo '{"name": "x"}'; echo garbage`, `output of "/bin/sh": line 2: invalid JSON: invalid character 'g' looking for beginning of value`},
		{"not an object", `echo '[1, 2]'`, "line 1: want a JSON object, got a list"},
		{"two objects", `echo '{"a": 1} {"a": 2}'`, "line 1: more than one JSON value on the line"},
		{"unconvertible value", `printf '{"n": 1}\n\n{"n": "abc"}\n'`, `row 1 (line 3), column "n": want int, got string "abc"`},
		{"fractional int", `echo '{"n": 1.5}'`, `row 0 (line 1), column "n": want int, got number 1.5: not an integer`},
		{"mixed new column", `printf '{"x": 1}\n{"x": "a"}\n'`, `new column "x" mixes value types: number on line 1, string on line 2`},
		{"ragged rows", `printf '{"x": 1, "y": 2}\n{"x": 1}\n'`, `line 2: no value for "y", which the first row (line 1) has`},
		{"extra key", `printf '{"x": 1}\n{"x": 1, "z": 2}\n'`, `line 2: key "z" is not in the first row (line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := process(t, shProc(t, "cat >/dev/null; "+tt.script, ""), testGroup(t))
			require.ErrorContains(t, err, tt.msg)
			require.ErrorContains(t, err, `processor "ext" (post_batch, row group 7): `)
		})
	}
}

func TestExecProgramNotFound(t *testing.T) {
	t.Parallel()
	_, err := process(t, execProc(t, "[./no-such-program]", ""), testGroup(t))
	require.ErrorContains(t, err, `run "./no-such-program"`)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestExecCannotEncode(t *testing.T) {
	t.Parallel()
	in := makeFrame(t, col("x", frame.Float, 1.0))
	in.Column("x").Floats[0] = math.Inf(1)
	_, err := process(t, execProc(t, "[cat]", ""), in)
	require.ErrorContains(t, err, `encode the row group: column "x", row 0: inf has no JSON form`)
}

// TestExecCancel cancels a running program and checks that Process returned only once the
// program, and the child it started, were gone.
func TestExecCancel(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ready")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// O_RDWR: opening does not wait for a writer, and closing unblocks a pending read.
	ready, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer ready.Close()

	p := shProc(t, fmt.Sprintf(`sleep 30 & echo $! > %s; wait`, fifo), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pid := make(chan int, 1)
	go func() {
		line, _ := bufio.NewReader(ready).ReadString('\n')
		n, _ := strconv.Atoi(strings.TrimSpace(line))
		pid <- n
		cancel()
	}()
	start := time.Now()
	_, err = p.Process(ctx, 0, testGroup(t))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), waitDelay)
	child := <-pid
	require.Positive(t, child)
	// Returning before waitDelay proves the background sleep closed the stdout it shared with
	// the shell, which it does only by dying. It is gone, a zombie, or still on its way out
	// (running its exit): not sleeping, as it would be had only the shell been killed.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
	if err == nil {
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		require.NotContains(t, []string{"S", "D", "T", "t"}, fields[0], "sleep %d still runs", child)
	}
}

func TestExecCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := execProc(t, "[cat]", "").Process(ctx, 0, testGroup(t))
	require.ErrorIs(t, err, context.Canceled)
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 8}
	for _, s := range []string{"ab\n", "cd\n", "efgh\n", "ij"} {
		n, err := b.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, "efgh\nij", string(b.b[1:]))
	require.Equal(t, "efgh\nij", b.lastLines(2))
	_, _ = b.Write([]byte("0123456789\n"))
	require.Equal(t, "3456789", b.lastLines(5))
	require.Equal(t, "", (&tailBuffer{max: 8}).lastLines(3))
}

func TestLimitedBuffer(t *testing.T) {
	t.Parallel()
	b := &limitedBuffer{max: 5}
	n, err := b.Write([]byte("abc"))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = b.Write([]byte("def"))
	require.ErrorIs(t, err, errOutputTooLarge)
	require.True(t, b.over)
	require.Equal(t, "abc", b.buf.String())
}
