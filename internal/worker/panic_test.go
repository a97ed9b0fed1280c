package worker_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// A panic while a group is handled — here in the run's compilation, which the scheduler does
// not cover, then in a generator call, which it does — fails that group with an outcome naming
// the panic, counts it once, and leaves the worker running: its one pull slot goes on to the
// next group.
func TestPanicFailsTheGroupAndTheWorkerGoesOn(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	m := metrics.NewWorker(prometheus.NewRegistry())
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	const poison, live, genPanic = "poison", "live", "genpanic"
	compile := func(rec *wire.RunRecord, taskConcurrency int) (*scheduler.Scheduler, error) {
		if rec.ID == poison {
			panic("poisoned config")
		}
		cfg, err := config.Parse(rec.Config)
		if err != nil {
			return nil, err
		}
		return worker.Compile(cfg, nil, nil, taskConcurrency)
	}
	// One slot: the group after the panic runs on the goroutine that recovered it.
	errs := &errorLog{}
	w := worker.New(nc, js, b.layout, b.res, worker.Options{ID: "w1", Logger: slog.New(errs), Metrics: m,
		Concurrency: 1, MaxConcurrency: 1, Scheduler: compile})
	servicetest.Start(t, w.Run)
	for _, run := range []string{poison, live, genPanic} {
		b.putRun(t, run, wire.RunRunning, doubleConfig)
	}
	panics := m.Errors.WithLabelValues(metrics.ErrPanic)
	failed := m.Groups.WithLabelValues(metrics.StatusFailed)
	// count counts the group's status last: once it is counted, so is its panic.
	settledFailed := func(n float64) {
		t.Helper()
		require.Eventually(t, func() bool { return testutil.ToFloat64(failed) == n }, waitFor, 5*time.Millisecond)
	}

	cons := b.outcomes(t, poison)
	b.publishGroup(t, poison, 2, encode(t, seeds(3)))
	o := next(t, cons)
	require.Equal(t, "failed", o.Headers().Get(wire.HeaderStatus))
	require.Equal(t, "2", o.Headers().Get(wire.HeaderGroup))
	require.Contains(t, o.Headers().Get(wire.HeaderError), "worker panicked: poisoned config")
	require.Empty(t, o.Data(), "a failed group carries no rows")
	b.groupsSettled(t) // acked with its outcome: not handed back, not terminated
	settledFailed(1)
	require.Equal(t, 1.0, testutil.ToFloat64(panics))
	logged := errs.records()
	require.Len(t, logged, 1, "the panic is logged once, at ERROR")
	require.Equal(t, poison, logged[0]["run"])
	require.Equal(t, "2", logged[0]["group"])
	require.Contains(t, logged[0]["err"], "poisoned config")
	require.Contains(t, logged[0]["stack"], "TestPanicFailsTheGroupAndTheWorkerGoesOn", "the stack reaches the code that panicked")

	cons = b.outcomes(t, live)
	b.publishGroup(t, live, 0, encode(t, seeds(4)))
	o = next(t, cons)
	require.Equal(t, "completed", o.Headers().Get(wire.HeaderStatus))
	require.Equal(t, 4, decodeOutcome(t, o).Len())

	gen := &scheduler.Generator{Name: "boom", Type: frame.Int, Inputs: []string{"n"},
		Cell: func(context.Context, map[string]any) (any, error) { panic("generator bug") }}
	g, err := scheduler.NewGraph([]string{"n"}, []*scheduler.Generator{gen})
	require.NoError(t, err)
	w.UseScheduler(genPanic, scheduler.New(g, scheduler.Options{}))
	cons = b.outcomes(t, genPanic)
	b.publishGroup(t, genPanic, 0, encode(t, seeds(2)))
	o = next(t, cons)
	require.Equal(t, "failed", o.Headers().Get(wire.HeaderStatus))
	require.Contains(t, o.Headers().Get(wire.HeaderError), "generator panicked: generator bug")
	b.groupsSettled(t)
	settledFailed(2)
	require.Equal(t, 2.0, testutil.ToFloat64(panics), "each panic counted once")
	logged = errs.records()
	require.Len(t, logged, 2)
	require.Equal(t, genPanic, logged[1]["run"])
	require.Contains(t, logged[1]["stack"], "TestPanicFailsTheGroupAndTheWorkerGoesOn", "the generator's stack, which the scheduler kept")

	ctx := waitCtx(t)
	workers, err := b.js.Consumer(ctx, b.layout.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	info, err := workers.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "settled by its first delivery, not handed back")
	require.Zero(t, testutil.ToFloat64(m.GroupsInFlight))
}

// errorLog keeps the attributes of every record logged at ERROR, those of With included.
type errorLog struct {
	mu    sync.Mutex
	got   []map[string]string
	attrs []slog.Attr
	root  *errorLog // where records go; nil: this one
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		rec[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	root := h.sink()
	root.mu.Lock()
	defer root.mu.Unlock()
	root.got = append(root.got, rec)
	return nil
}

func (h *errorLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &errorLog{attrs: append(append([]slog.Attr{}, h.attrs...), attrs...), root: h.sink()}
}

func (h *errorLog) WithGroup(string) slog.Handler { return h }

func (h *errorLog) sink() *errorLog {
	if h.root != nil {
		return h.root
	}
	return h
}

func (h *errorLog) records() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string{}, h.got...)
}
