package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

const drainConfig = `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - {name: v, column_type: expression, dtype: int, expr: "{{ 1 }}"}
`

// blocker stands in for a slow model call: in group 0 every cell fails (once a cell of another
// group is blocked), elsewhere a cell blocks until its context is cancelled. It counts the calls
// that started blocking and those that observed their cancellation.
type blocker struct {
	group0             map[float64]bool
	started, cancelled atomic.Int64
	returned           atomic.Int64
	once               sync.Once
	blocking           chan struct{}
	// release holds calls that observed their cancellation, the way a model call takes a while
	// to tear down: Run must wait for them.
	release chan struct{}
}

func (b *blocker) scheduler(*wire.RunRecord, int) (*scheduler.Scheduler, error) {
	g, err := scheduler.NewGraph([]string{"n"}, []*scheduler.Generator{{
		Name: "v", Type: frame.Int, Inputs: []string{"n"},
		Cell: func(ctx context.Context, row map[string]any) (any, error) {
			if b.group0[row["n"].(float64)] {
				<-b.blocking
				return nil, errors.New("model refused")
			}
			b.started.Add(1)
			b.once.Do(func() { close(b.blocking) })
			<-ctx.Done()
			b.cancelled.Add(1)
			<-b.release
			b.returned.Add(1)
			return nil, ctx.Err()
		},
	}})
	if err != nil {
		return nil, err
	}
	return scheduler.New(g, scheduler.Options{Concurrency: 4}), nil
}

// watchedSink records what a Discard saw: the run must have drained before it.
type watchedSink struct {
	*sinks.Memory
	b         *blocker
	discarded atomic.Bool
	early     atomic.Bool // Discard came while calls were still running
}

func (s *watchedSink) Discard(ctx context.Context) error {
	s.early.Store(s.b.returned.Load() != s.b.started.Load())
	s.discarded.Store(true)
	return s.Memory.Discard(ctx)
}

// runHeld runs the controller while the blocker holds its cancelled calls, and releases them
// only once the controller says it is waiting on the workers that hold them. A controller that
// did not wait would return while the calls are held: the test fails then, deterministically.
func runHeld(t *testing.T, b *blocker, ctrl *lifecycle.Controller, run func(lifecycle.Sink) error) (error, *watchedSink) {
	t.Helper()
	sink := &watchedSink{Memory: sinks.NewMemory(), b: b}
	t.Cleanup(sink.Release)
	waiting := make(chan struct{})
	var once sync.Once
	ctrl.OnDrainWaiting(func(map[string][]int) { once.Do(func() { close(waiting) }) })
	done := make(chan error, 1)
	go func() { done <- run(sink) }()
	select {
	case err := <-done:
		close(b.release) // let the held calls end so the worker can stop
		t.Fatalf("Run returned (%v) while generator calls were still running", err)
	case <-waiting:
	}
	require.False(t, sink.discarded.Load(), "the sink discarded while generator calls were still running")
	close(b.release)
	err := <-done
	require.False(t, sink.early.Load(), "Discard came before every call returned")
	require.Equal(t, b.started.Load(), b.returned.Load())
	require.Equal(t, b.started.Load(), b.cancelled.Load())
	return err, sink
}

// drainSetup runs a real server, one worker generating with b, and a controller.
func drainSetup(t *testing.T, seed uint64) (*blocker, *lifecycle.Controller, *broker.Resources, func(string)) {
	t.Helper()
	ctx := context.Background()
	srv := natstest.RunServer(t)
	cfg := parse(t, drainConfig)
	first, err := generators.Seeds(cfg.SamplerColumns(), seed, 0, 10)
	require.NoError(t, err)
	b := &blocker{group0: map[float64]bool{}, blocking: make(chan struct{}), release: make(chan struct{})}
	for _, v := range first.Column("n").Floats {
		b.group0[v] = true
	}

	log := slog.New(slog.DiscardHandler)
	layout := wire.DefaultLayout()
	wnc := natstest.Connect(t, srv)
	wjs, err := jetstream.New(wnc)
	require.NoError(t, err)
	res, err := broker.Ensure(ctx, wjs, layout)
	require.NoError(t, err)
	w := worker.New(wnc, wjs, layout, res, worker.Options{Concurrency: 2, Scheduler: b.scheduler, Logger: log})
	servicetest.Start(t, w.Run)

	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	abort := func(run string) {
		body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "operator"})
		require.NoError(t, nc.Publish(layout.ControlSubject(run), body))
	}
	return b, lifecycle.New(nc, js, layout, res, log), res, abort
}

// A run that stops — early shutdown or abort — ends only once no worker holds a group of it.
func TestDrain(t *testing.T) {
	t.Parallel()

	// Early shutdown is terminal: the run returns only after every in-flight generator call has
	// observed its cancellation and returned, and fails.
	t.Run("EarlyShutdownDrainsInFlightWork", func(t *testing.T) {
		t.Parallel()
		b, ctrl, res, _ := drainSetup(t, 21)
		err, sink := runHeld(t, b, ctrl, func(sink lifecycle.Sink) error {
			_, err := ctrl.Run(context.Background(), parse(t, drainConfig), lifecycle.Options{
				NumRecords: 40, BufferSize: 10, Seed: 21, MaxConcurrentRowGroups: 2}, sink)
			return err
		})
		var es *lifecycle.EarlyShutdownError
		require.ErrorAs(t, err, &es)
		require.Positive(t, b.started.Load())
		require.Nil(t, sink.Meta())
		requireNoWorkInFlight(t, res)
	})

	// An operator's abort drains the same way.
	t.Run("AbortDrainsInFlightWork", func(t *testing.T) {
		t.Parallel()
		b, ctrl, res, abort := drainSetup(t, 22)
		b.group0 = nil // no group fails: every cell blocks until the abort
		run := lifecycle.NewRunID()
		go func() {
			<-b.blocking
			abort(run)
		}()
		err, sink := runHeld(t, b, ctrl, func(sink lifecycle.Sink) error {
			_, err := ctrl.Run(context.Background(), parse(t, drainConfig), lifecycle.Options{
				RunID: run, NumRecords: 40, BufferSize: 10, Seed: 22, MaxConcurrentRowGroups: 2}, sink)
			return err
		})
		require.ErrorIs(t, err, lifecycle.ErrAborted)
		require.Positive(t, b.started.Load())
		require.Nil(t, sink.Meta())
		requireNoWorkInFlight(t, res)
	})
}

func requireNoWorkInFlight(t *testing.T, res *broker.Resources) {
	t.Helper()
	keys, err := res.Workers.ListKeys(context.Background())
	require.NoError(t, err)
	for key := range keys.Keys() {
		e, err := res.Workers.Get(context.Background(), key)
		require.NoError(t, err)
		w, err := wire.DecodeWorkerRecord(e.Value())
		require.NoError(t, err)
		require.Empty(t, w.InFlight, "worker %s", w.ID)
	}
}

// An abort — an operator's on the control subject, the caller's context cancelled — ends the run
// aborted, cancelling what is in flight.
func TestAbort(t *testing.T) {
	t.Parallel()

	// An operator's abort on the control subject ends the run as aborted.
	t.Run("OnControlSubject", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		opts := lifecycle.Options{RunID: lifecycle.NewRunID(), NumRecords: 10_000_000, BufferSize: 1000}
		aborted := false
		b.ctrl.OnProgress(func(lifecycle.Progress) {
			if !aborted { // the run is under way: abort it the way an operator would
				aborted = true
				body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "wrong config"})
				require.NoError(t, b.nc.Publish(wire.DefaultLayout().ControlSubject(opts.RunID), body))
			}
		})
		res, err := b.ctrl.Run(context.Background(), parse(t, testConfig), opts, sink)
		require.ErrorIs(t, err, lifecycle.ErrAborted)
		require.Contains(t, err.Error(), "wrong config")
		require.Equal(t, wire.RunAborted, res.Status)
		require.Nil(t, sink.Meta())
		require.Equal(t, wire.RunAborted, runState(t, b, opts.RunID))
		// Queued groups of the run were purged.
		stream, err := b.js.Stream(context.Background(), wire.DefaultLayout().GroupsStream())
		require.NoError(t, err)
		info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(wire.DefaultLayout().GroupsOfRun(opts.RunID)))
		require.NoError(t, err)
		require.Zero(t, len(info.State.Subjects))
	})

	t.Run("ContextCancel", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		ctx, cancel := context.WithCancelCause(context.Background())
		b.ctrl.OnProgress(func(lifecycle.Progress) { cancel(errors.New("interrupt")) })
		_, err := b.ctrl.Run(ctx, parse(t, testConfig), lifecycle.Options{NumRecords: 10_000_000, BufferSize: 1000}, sink)
		require.ErrorIs(t, err, lifecycle.ErrAborted)
		require.Contains(t, err.Error(), "interrupt")
		require.Nil(t, sink.Meta())
	})

	// An abort reaches the endpoint: the requests in flight are cancelled (it sees the clients
	// go), and the run ends aborted only after that.
	t.Run("CancelsModelRequests", func(t *testing.T) {
		t.Parallel()
		gate := make(chan struct{}) // never opened: every request stays in flight
		stub := llmstub.New(llmstub.Options{Gate: gate})
		url := stub.Start(t)
		b := setup(t, 1)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		opts := lifecycle.Options{RunID: lifecycle.NewRunID(), NumRecords: 100, BufferSize: 50}
		go func() {
			if stub.WaitInFlight(context.Background(), 4) == nil { // the model's cap is busy: abort
				body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "stop spending"})
				_ = b.nc.Publish(wire.DefaultLayout().ControlSubject(opts.RunID), body)
			}
		}()
		_, err := b.ctrl.Run(context.Background(), llmConfig(t, url), opts, sink)
		require.ErrorIs(t, err, lifecycle.ErrAborted)
		require.NoError(t, stub.WaitCancelled(context.Background(), 4), "the endpoint saw the four requests go")
		require.LessOrEqual(t, stub.Stats().PeakInFlight, int64(4))
	})
}
