package progress_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Bounds of the waits on state; they never set a pace.
const (
	waitFor = 10 * time.Second
	tick    = 5 * time.Millisecond
)

// next reads the next report from sub.
func next(t *testing.T, sub *nats.Subscription) *wire.ProgressReport {
	t.Helper()
	m, err := sub.NextMsg(waitFor)
	require.NoError(t, err)
	r, err := wire.DecodeProgress(m.Data)
	require.NoError(t, err)
	return r
}

// A flush publishes a run's counts only when they changed, each report with the next sequence
// number; a group handed back takes its cells off.
func TestReporterFlush(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	layout := wire.Layout{Prefix: "t"}
	sub, err := nc.SubscribeSync(layout.ProgressSubject("r1"))
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	rep := progress.NewReporter(nc, layout, "w1", progress.ReporterOptions{})
	c := rep.Counter("r1")
	require.Same(t, c, rep.Counter("r1"))
	g := c.Group()
	g.Cells("a", wire.CellCounts{OK: 2})
	c.InFlight("m", 1)
	rep.Flush("r1")
	r := next(t, sub)
	require.Equal(t, &wire.ProgressReport{Run: "r1", Worker: "w1", Session: r.Session, Seq: 1,
		Columns: map[string]wire.CellCounts{"a": {OK: 2}}, Models: map[string]wire.RequestCounts{"m": {Sent: 1, InFlight: 1}}}, r)
	require.NotEmpty(t, r.Session)

	rep.Flush("r1") // nothing changed: no report (the next one has seq 2)
	c.InFlight("m", -1)
	c.Request("m", llm.Succeeded, 10, 5)
	c.InFlight("m", 1)
	c.InFlight("m", -1)
	c.Request("m", llm.RateLimited, 0, 0)
	g.Cells("a", wire.CellCounts{Failed: 1})
	other := c.Group()
	other.Cells("a", wire.CellCounts{OK: 1, Skipped: 1})
	g.Discard() // handed back: its three cells go
	g.Discard()
	g.Cells("a", wire.CellCounts{OK: 5}) // a discarded group counts nothing more
	rep.Flush("r1")
	r = next(t, sub)
	require.Equal(t, uint64(2), r.Seq)
	require.Equal(t, map[string]wire.CellCounts{"a": {OK: 1, Skipped: 1}}, r.Columns)
	require.Equal(t, map[string]wire.RequestCounts{"m": {Sent: 2, OK: 1, Failed: 1}}, r.Models)

	other.Cells("b", wire.CellCounts{Dropped: 3})
	rep.Forget("r1") // flushes first
	r = next(t, sub)
	require.Equal(t, uint64(3), r.Seq)
	require.Equal(t, wire.CellCounts{Dropped: 3}, r.Columns["b"])
	rep.Flush("r1") // forgotten: nothing
	rep.Flush("unknown")
	again := rep.Counter("r1")
	require.NotSame(t, c, again, "a forgotten run starts again")
	again.InFlight("m", 1)
	rep.Flush("r1")
	r2 := next(t, sub)
	require.Equal(t, uint64(1), r2.Seq)
	require.NotEqual(t, r.Session, r2.Session, "in a session of its own, which readers add to the old one")
	_, err = sub.NextMsg(0)
	require.ErrorIs(t, err, nats.ErrTimeout, "no report beyond these")
}

// End reports the last of a run's open groups, once.
func TestGroupEnd(t *testing.T) {
	t.Parallel()
	rep := progress.NewReporter(nil, wire.DefaultLayout(), "w", progress.ReporterOptions{})
	c := rep.Counter("r1")
	a, b := c.Group(), c.Group()
	require.False(t, a.End(), "b is still open")
	require.False(t, a.End(), "ended already")
	require.True(t, b.End(), "the last one")
	require.False(t, b.End())
	d := c.Group()
	require.True(t, d.End(), "a new group, alone again")
	var none *progress.Group
	require.False(t, none.End())
}

// Nil counters and groups count nothing, so callers need not check.
func TestNilCounter(t *testing.T) {
	t.Parallel()
	var c *progress.Counter
	c.InFlight("m", 1)
	c.Request("m", llm.Failed, 0, 0)
	g := c.Group()
	require.Nil(t, g)
	g.Cells("a", wire.CellCounts{OK: 1})
	g.Discard()
}

// Started, the reporter publishes by itself, and its stop sends the last counts; the collector
// of the run sees them all.
func TestReporterToCollector(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	layout := wire.DefaultLayout()
	col := progress.NewCollector(natstest.Connect(t, srv), layout, "r1", progress.CollectorOptions{Columns: []string{"a"}, Rows: 100})
	require.NoError(t, col.Start())
	defer col.Stop()

	var reps []*progress.Reporter
	for _, w := range []string{"w1", "w2"} {
		rep := progress.NewReporter(natstest.Connect(t, srv), layout, w, progress.ReporterOptions{Every: 10 * time.Millisecond})
		rep.Start(context.Background())
		rep.Start(context.Background()) // once
		defer rep.Stop()
		reps = append(reps, rep)
	}
	reps[0].Counter("r1").Group().Cells("a", wire.CellCounts{OK: 30})
	reps[1].Counter("r1").InFlight("m", 4)
	require.Eventually(t, func() bool {
		s := col.Snapshot()
		return s.Columns[0].OK == 30 && len(s.Models) == 1 && s.Models[0].InFlight == 4
	}, waitFor, tick, "the running reporters publish on their own")

	reps[1].Counter("r1").Group().Cells("a", wire.CellCounts{OK: 70})
	reps[1].Counter("r2").Group().Cells("a", wire.CellCounts{OK: 1}) // another run
	reps[1].Stop()
	reps[1].Stop()
	require.Eventually(t, func() bool { return col.Snapshot().Columns[0].OK == 100 }, waitFor, tick, "the stop sends the last counts")
	require.Equal(t, 2, col.Snapshot().Workers)
}
