package progress_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

func TestParseMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]progress.Mode{"": progress.ModeAuto, "auto": progress.ModeAuto, "BAR": progress.ModeBar,
		"lines": progress.ModeLines, "off": progress.ModeOff} {
		got, err := progress.ParseMode(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := progress.ParseMode("fancy")
	require.ErrorContains(t, err, "auto, bar, lines or off")
}

// fixed is a Source that returns one snapshot.
type fixed progress.Snapshot

func (f fixed) Snapshot() progress.Snapshot { return progress.Snapshot(f) }

var sample = fixed{
	Run: progress.RunProgress{Rows: 100, TargetRows: 300, Groups: 6, GroupsDone: 2},
	Columns: []progress.Column{
		{Name: "text", Total: 300, CellCounts: wire.CellCounts{OK: 130, Failed: 2, Dropped: 8}},
		{Name: "judge", Total: 300, CellCounts: wire.CellCounts{OK: 100}},
	},
	Models: []progress.Model{{Name: "writer", RequestCounts: wire.RequestCounts{Sent: 240, OK: 230, Failed: 2, InFlight: 8}}},
}

// lines collects the lines of a text handler and hands each to a channel as well.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSuffix(string(p), "\n")
	l.all = append(l.all, s)
	select {
	case l.ch <- s:
	default:
	}
	return len(p), nil
}

func (l *lines) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

const sampleLine = `level=INFO msg=progress rows_done=100/300 groups=2/6 cells.text=140/300 cells.judge=100/300 failed.text=2 requests.writer=230/2/8`

// Lines mode logs a line every period while it runs, and a last one at the stop.
func TestRendererLines(t *testing.T) {
	t.Parallel()
	out := &lines{ch: make(chan string, 1)}
	r := progress.NewRenderer(sample, progress.RenderOptions{Mode: progress.ModeLines, Logger: out.logger(), Every: 5 * 1e6})
	require.Equal(t, progress.ModeLines, r.Mode())
	r.Start(context.Background())
	require.Equal(t, sampleLine, <-out.ch, "a line while it runs")
	r.Stop()
	r.Stop()
	out.mu.Lock()
	defer out.mu.Unlock()
	require.GreaterOrEqual(t, len(out.all), 2)
	require.Equal(t, sampleLine, out.all[len(out.all)-1], "the last counts at the stop")
}

// Auto mode draws bars on a terminal only; off draws nothing and starts nothing.
func TestRendererModes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.Equal(t, progress.ModeLines, progress.NewRenderer(sample, progress.RenderOptions{Out: &buf}).Mode())
	require.False(t, progress.IsTerminal(&buf))
	out := &lines{ch: make(chan string, 1)}
	off := progress.NewRenderer(sample, progress.RenderOptions{Mode: progress.ModeOff, Out: &buf, Logger: out.logger()})
	off.Start(context.Background())
	off.Stop()
	require.Empty(t, out.all)
	require.Zero(t, buf.Len())
	progress.NewRenderer(sample, progress.RenderOptions{Mode: progress.ModeLines}).Stop() // never started: nothing to stop
}

// lockedBuffer is a bytes.Buffer for mpb's goroutine and the test's.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bar mode draws a bar per column, one for rows and a line of requests, and leaves them with
// the final counts at the stop.
func TestRendererBars(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	r := progress.NewRenderer(sample, progress.RenderOptions{Mode: progress.ModeBar, Out: &out})
	r.Start(context.Background())
	r.Stop()
	r.Stop()
	s := out.String()
	for _, want := range []string{"rows", "100 / 300", "text", "140 / 300", "2 failed", "judge", "writer: 230 ok, 2 failed, 8 in flight"} {
		require.Contains(t, s, want)
	}
}

// Through a Terminal, what others write while bars are drawn goes above them, and straight
// through before and after.
func TestTerminal(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	term := progress.NewTerminal(&out)
	_, err := term.Write([]byte("before\n"))
	require.NoError(t, err)
	r := progress.NewRenderer(sample, progress.RenderOptions{Mode: progress.ModeBar, Out: term})
	r.Start(context.Background())
	_, err = term.Write([]byte("a warning\n"))
	require.NoError(t, err)
	r.Stop()
	_, err = term.Write([]byte("after\n"))
	require.NoError(t, err)
	s := out.String()
	require.True(t, strings.HasPrefix(s, "before\n"), s)
	require.True(t, strings.HasSuffix(s, "after\n"), s)
	require.Contains(t, s, "a warning\n")
	require.Contains(t, s, "text     140 / 300")
	require.False(t, progress.IsTerminal(term))
}
