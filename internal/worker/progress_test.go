package worker_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// progressOf subscribes to run's progress reports.
func (b *bundle) progressOf(t *testing.T, run string) *nats.Subscription {
	t.Helper()
	sub, err := b.nc.SubscribeSync(b.layout.ProgressSubject(run))
	require.NoError(t, err)
	require.NoError(t, b.nc.Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// nextReportUntil reads run's reports until one satisfies cond, and returns it.
func nextReportUntil(t *testing.T, sub *nats.Subscription, cond func(*wire.ProgressReport) bool) *wire.ProgressReport {
	t.Helper()
	for {
		m, err := sub.NextMsg(waitFor)
		require.NoError(t, err, "no report satisfied the condition")
		r, err := wire.DecodeProgress(m.Data)
		require.NoError(t, err)
		if cond(r) {
			return r
		}
	}
}

// A worker reports the cells of the groups it runs on the run's progress subject; its last
// group of the run ends with a report of every cell.
func TestWorkerReportsProgress(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	b.startWorker(t, "w1")
	const run = "reporting"
	b.putRun(t, run, wire.RunRunning, doubleConfig)
	sub := b.progressOf(t, run)
	cons := b.outcomes(t, run)

	b.publishGroup(t, run, 0, encode(t, seeds(10)))
	require.Equal(t, "completed", next(t, cons).Headers().Get(wire.HeaderStatus))
	r := nextReportUntil(t, sub, func(r *wire.ProgressReport) bool { return r.Columns["twice"].Done() == 10 })
	require.Equal(t, "w1", r.Worker)
	require.Equal(t, run, r.Run)
	require.Equal(t, map[string]wire.CellCounts{"twice": {OK: 10}}, r.Columns)
	require.Empty(t, r.Models, "no model in this config")
}

// A group the worker hands back when it stops takes its cells off the run's progress: the
// worker that takes it over counts them again.
func TestHandedBackGroupTakesItsCellsOff(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	w, stop := b.startWorker(t, "w1")
	const run = "handback-progress"
	b.putRun(t, run, wire.RunRunning, slowConfig)
	gen := &scheduler.Generator{Name: "slow", Type: frame.String, Inputs: []string{"n"},
		Cell: func(ctx context.Context, row map[string]any) (any, error) {
			if row["n"].(float64) <= 5 {
				return "quick", nil
			}
			<-ctx.Done() // the other rows wait for the stop
			return nil, context.Cause(ctx)
		}}
	g, err := scheduler.NewGraph([]string{"n"}, []*scheduler.Generator{gen})
	require.NoError(t, err)
	w.UseScheduler(run, scheduler.New(g, scheduler.Options{}))
	sub := b.progressOf(t, run)

	b.publishGroup(t, run, 0, encode(t, seeds(10)))
	first := nextReportUntil(t, sub, func(r *wire.ProgressReport) bool { return r.Columns["slow"].OK == 5 })
	stop()
	last := nextReportUntil(t, sub, func(r *wire.ProgressReport) bool { return r.Seq > first.Seq && r.Columns["slow"].OK == 0 })
	require.Equal(t, first.Session, last.Session)
	require.Equal(t, wire.CellCounts{}, last.Columns["slow"])
}
