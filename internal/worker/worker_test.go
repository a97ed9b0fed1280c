package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// waitFor bounds every wait, so that a lost message fails the test instead of hanging it. It is
// a safety net, not a timing assertion.
const waitFor = 30 * time.Second

var quiet = slog.New(slog.DiscardHandler)

const doubleConfig = `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: twice, column_type: expression, dtype: float, expr: "{{ n * 2 }}"}
`

type bundle struct {
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	layout wire.Layout
	res    *broker.Resources
	pub    *broker.Publisher
}

func setup(t *testing.T, layout wire.Layout) *bundle {
	t.Helper()
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := broker.Ensure(t.Context(), js, layout)
	require.NoError(t, err)
	return &bundle{srv: srv, nc: nc, js: js, layout: layout, res: res,
		pub: broker.NewPublisher(js, res.Payloads, nc.MaxPayload())}
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// startWorker runs a worker on its own connection until stop is called or the test ends; stop
// waits for Run to return.
func (b *bundle) startWorker(t *testing.T, id string) (w *worker.Worker, stop func()) {
	t.Helper()
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w = worker.New(nc, js, b.layout, b.res, worker.Options{ID: id, Logger: quiet})
	return w, servicetest.Start(t, w.Run)
}

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(src))
	require.NoError(t, err)
	return cfg
}

// putRun records a build run of cfgSrc in rf_runs, as the controller does.
func (b *bundle) putRun(t *testing.T, id string, state wire.RunState, cfgSrc string) {
	t.Helper()
	raw, err := json.Marshal(parse(t, cfgSrc).Raw)
	require.NoError(t, err)
	body, err := json.Marshal(wire.RunRecord{ID: id, State: state, Mode: wire.ModeBuild, Config: raw,
		NumRecords: 40, BufferSize: 10, DatasetName: "ds", CreatedAt: time.Now().UTC()})
	require.NoError(t, err)
	_, err = b.res.Runs.Put(t.Context(), id, body)
	require.NoError(t, err)
}

// seeds is a prepared group: the seed column n holding 1..rows.
func seeds(rows int) *frame.Frame {
	f := frame.New(rows)
	n := frame.NewColumn("n", frame.Float, rows)
	for i := range rows {
		n.Floats[i] = float64(i + 1)
	}
	_ = f.Put(n)
	return f
}

func encode(t *testing.T, f *frame.Frame) []byte {
	t.Helper()
	rec := f.ToRecord(nil)
	defer rec.Release()
	body, err := wire.EncodeRecord(rec)
	require.NoError(t, err)
	return body
}

// publishGroup publishes a prepared group the way the controller does.
func (b *bundle) publishGroup(t *testing.T, run string, g int, body []byte) {
	t.Helper()
	require.NoError(t, b.pub.Publish(waitCtx(t), b.layout.GroupSubject(run, g), run+"/"+strconv.Itoa(g)+"/prepared",
		nats.Header{wire.HeaderRun: []string{run}, wire.HeaderGroup: []string{strconv.Itoa(g)}}, body))
}

// outcomes opens a plain consumer of the run's group outcomes.
func (b *bundle) outcomes(t *testing.T, run string) jetstream.Consumer {
	t.Helper()
	cons, err := b.js.CreateConsumer(t.Context(), b.layout.OutcomesStream(), jetstream.ConsumerConfig{
		FilterSubject: b.layout.OutcomeSubject(run, wire.KindGroup, "*"),
		AckPolicy:     jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	return cons
}

func next(t *testing.T, cons jetstream.Consumer) jetstream.Msg {
	t.Helper()
	m, err := cons.Next(jetstream.FetchMaxWait(waitFor))
	require.NoError(t, err, "no outcome")
	require.NoError(t, m.Ack())
	return m
}

// msgs is the number of messages a stream holds.
func (b *bundle) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	st, err := b.js.Stream(t.Context(), stream)
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

// groupsSettled waits until the workers consumer has settled every prepared group: the stream
// is a work queue, so an acked or terminated group leaves it.
func (b *bundle) groupsSettled(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return b.msgs(t, b.layout.GroupsStream()) == 0 },
		waitFor, 5*time.Millisecond, "prepared groups are still queued")
}

func decodeOutcome(t *testing.T, m jetstream.Msg) *frame.Frame {
	t.Helper()
	rec, err := wire.DecodeRecord(m.Data())
	require.NoError(t, err)
	defer rec.Release()
	f, err := frame.FromRecord(rec)
	require.NoError(t, err)
	return f
}

func TestGroupProducesCompletedOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	b.startWorker(t, "w1")
	const run = "run1"
	b.putRun(t, run, wire.RunRunning, doubleConfig)
	cons := b.outcomes(t, run)

	b.publishGroup(t, run, 3, encode(t, seeds(4)))
	m := next(t, cons)
	require.Equal(t, b.layout.OutcomeSubject(run, wire.KindGroup, "3"), m.Subject())
	h := m.Headers()
	require.Equal(t, "completed", h.Get(wire.HeaderStatus))
	require.Equal(t, run, h.Get(wire.HeaderRun))
	require.Equal(t, "3", h.Get(wire.HeaderGroup))
	require.Equal(t, "w1", h.Get(wire.HeaderWorker))
	require.Empty(t, h.Get(wire.HeaderError))
	stats, err := wire.DecodeStats([]byte(h.Get("Rf-Stats")))
	require.NoError(t, err)
	require.Equal(t, 4, stats.Rows)
	require.Equal(t, wire.ColumnStats{Generated: 4}, stats.Columns["twice"])

	f := decodeOutcome(t, m)
	require.Equal(t, 4, f.Len())
	require.Equal(t, []float64{1, 2, 3, 4}, f.Column("n").Floats)
	twice := f.Column("twice")
	require.NotNil(t, twice)
	require.Equal(t, frame.Float, twice.Type)
	require.Equal(t, []float64{2, 4, 6, 8}, twice.Floats)

	b.groupsSettled(t) // acked once the outcome is stored
}

// Groups no worker can do anything with are terminated: no outcome, and they leave the queue.
func TestUnusableGroupsAreTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	b.startWorker(t, "w1")
	b.putRun(t, "live", wire.RunRunning, doubleConfig)
	b.putRun(t, "stopped", wire.RunAborted, doubleConfig)
	valid := encode(t, seeds(3))
	ctx := waitCtx(t)

	b.publishGroup(t, "nosuchrun", 0, valid)        // unknown run
	b.publishGroup(t, "stopped", 0, valid)          // the run was aborted
	b.publishGroup(t, "live", 0, []byte("garbage")) // not Arrow IPC
	b.publishGroup(t, "live", 1, nil)               // empty body
	for _, subj := range []string{"rf.groups.live.abc", "rf.groups.live.01", "rf.groups.live.1.x", "rf.groups.live"} {
		_, err := b.js.Publish(ctx, subj, valid)
		require.NoError(t, err, subj)
	}
	b.groupsSettled(t)
	require.Zero(t, b.msgs(t, b.layout.OutcomesStream()), "no outcome for a terminated group")
	workers, err := b.js.Consumer(ctx, b.layout.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	info, err := workers.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "terminated, not handed back")

	// The worker goes on with good groups.
	cons := b.outcomes(t, "live")
	b.publishGroup(t, "live", 2, valid)
	m := next(t, cons)
	require.Equal(t, "completed", m.Headers().Get(wire.HeaderStatus))
	require.Equal(t, "2", m.Headers().Get(wire.HeaderGroup))
}

func TestExpressionFailingEveryRowFailsTheGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	b.startWorker(t, "w1")
	const run = "broken"
	b.putRun(t, run, wire.RunRunning, `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - {name: broken, column_type: expression, dtype: int, expr: "not a number {{ n }}"}
`)
	cons := b.outcomes(t, run)

	b.publishGroup(t, run, 0, encode(t, seeds(5)))
	m := next(t, cons)
	require.Equal(t, "failed", m.Headers().Get(wire.HeaderStatus))
	require.Contains(t, m.Headers().Get(wire.HeaderError), `"broken"`)
	require.Empty(t, m.Data(), "a failed group carries no rows")
	b.groupsSettled(t)
}

// A run whose config does not compile on the worker fails its groups, naming the problem.
func TestRunThatDoesNotCompileFailsItsGroups(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	b.startWorker(t, "w1")
	const run = "nocompile"
	body, err := json.Marshal(wire.RunRecord{ID: run, State: wire.RunRunning, Mode: wire.ModeBuild,
		Config: json.RawMessage(`{"columns": "not a list"}`), NumRecords: 10, BufferSize: 10, DatasetName: "ds"})
	require.NoError(t, err)
	_, err = b.res.Runs.Put(t.Context(), run, body)
	require.NoError(t, err)
	cons := b.outcomes(t, run)

	b.publishGroup(t, run, 0, encode(t, seeds(2)))
	m := next(t, cons)
	require.Equal(t, "failed", m.Headers().Get(wire.HeaderStatus))
	require.Contains(t, m.Headers().Get(wire.HeaderError), "config")
}

// A Layout's zero fields mean the defaults (wire.Layout's doc): a layout with only a prefix set
// must work, heartbeat included.
func TestLayoutWithDefaultedFields(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.Layout{Prefix: "custom"})
	b.startWorker(t, "w1")
	const run = "r"
	b.putRun(t, run, wire.RunRunning, doubleConfig)
	cons := b.outcomes(t, run)

	b.publishGroup(t, run, 0, encode(t, seeds(2)))
	m := next(t, cons)
	require.Equal(t, "custom.outcomes.r.group.0", m.Subject())
	require.Equal(t, "completed", m.Headers().Get(wire.HeaderStatus))
}

// blockingScheduler returns a scheduler whose one generator, "slow" (reading n), signals entered
// and then blocks until its group is cancelled.
func blockingScheduler(t *testing.T, entered chan<- string) *scheduler.Scheduler {
	t.Helper()
	gen := &scheduler.Generator{Name: "slow", Type: frame.String, Inputs: []string{"n"},
		Column: func(ctx context.Context, in *frame.Frame, _ []int) (*frame.Column, map[int]error, error) {
			select {
			case entered <- "slow":
			default: // only the first call is watched
			}
			<-ctx.Done()
			return nil, nil, context.Cause(ctx)
		}}
	g, err := scheduler.NewGraph([]string{"n"}, []*scheduler.Generator{gen})
	require.NoError(t, err)
	return scheduler.New(g, scheduler.Options{})
}

const slowConfig = `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: slow, column_type: expression, expr: "v{{ n }}"}
`

// An abort broadcast on the run's control subject cancels its group in flight, which ends with
// an aborted outcome giving the reason.
func TestAbortBroadcastCancelsGroupInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	w, _ := b.startWorker(t, "w1")
	const run = "aborting"
	b.putRun(t, run, wire.RunRunning, slowConfig)
	entered := make(chan string, 1)
	w.UseScheduler(run, blockingScheduler(t, entered))
	cons := b.outcomes(t, run)
	ctx := waitCtx(t)

	b.publishGroup(t, run, 0, encode(t, seeds(3)))
	select {
	case <-entered: // the group is being generated
	case <-ctx.Done():
		t.Fatal("the group never started")
	}
	// Another run's abort does not touch the group.
	other, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "not you"})
	require.NoError(t, b.nc.Publish(b.layout.ControlSubject("otherrun"), other))
	body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "wrong config"})
	require.NoError(t, b.nc.Publish(b.layout.ControlSubject(run), body))

	m := next(t, cons)
	require.Equal(t, "aborted", m.Headers().Get(wire.HeaderStatus))
	require.Contains(t, m.Headers().Get(wire.HeaderError), "wrong config")
	require.NotContains(t, m.Headers().Get(wire.HeaderError), "not you")
	b.groupsSettled(t)
}

// A worker that stops hands its group in flight back to the queue at once (a nak), without an
// outcome, and another worker does it. AckWait is far longer than the test's wait, so the
// second worker can only get the group if the first one handed it back.
func TestStoppingWorkerHandsGroupBack(t *testing.T) {
	t.Parallel()
	layout := wire.DefaultLayout()
	layout.AckWait = time.Hour
	b := setup(t, layout)
	w, stop := b.startWorker(t, "w1")
	const run = "handback"
	b.putRun(t, run, wire.RunRunning, slowConfig)
	entered := make(chan string, 1)
	w.UseScheduler(run, blockingScheduler(t, entered))
	ctx := waitCtx(t)

	b.publishGroup(t, run, 0, encode(t, seeds(3)))
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the group never started")
	}
	stop()
	require.Zero(t, b.msgs(t, b.layout.OutcomesStream()), "a stopping worker reports nothing")
	require.Equal(t, uint64(1), b.msgs(t, b.layout.GroupsStream()), "the group is still queued")

	cons := b.outcomes(t, run)
	b.startWorker(t, "w2") // compiles the run's own config
	m := next(t, cons)
	require.Equal(t, "completed", m.Headers().Get(wire.HeaderStatus))
	require.Equal(t, "w2", m.Headers().Get(wire.HeaderWorker))
	require.Equal(t, []string{"v1.0", "v2.0", "v3.0"}, decodeOutcome(t, m).Column("slow").Strings)
	meta, err := m.Metadata()
	require.NoError(t, err)
	require.Equal(t, uint64(1), meta.NumDelivered, "the outcome itself is delivered once")
	b.groupsSettled(t)
}

func TestCompile(t *testing.T) {
	t.Parallel()
	cfg := parse(t, doubleConfig)
	s, err := worker.Compile(cfg, nil, nil, 4)
	require.NoError(t, err)
	out := s.Run(t.Context(), seeds(3))
	require.Equal(t, scheduler.Completed, out.Status, "%v", out.Err)
	require.Equal(t, []float64{2, 4, 6}, out.Frame.Column("twice").Floats)

	t.Run("unknown input", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, doubleConfig)
		cfg.Column("twice").Inputs = append(cfg.Column("twice").Inputs, "missing")
		_, err := worker.Compile(cfg, nil, nil, 4)
		require.ErrorContains(t, err, `"missing"`)
	})
	t.Run("bad template", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, doubleConfig)
		cfg.Column("twice").Expr = "{{ n "
		_, err := worker.Compile(cfg, nil, nil, 4)
		require.ErrorContains(t, err, `"twice"`)
	})
}

// A group that fails while its worker was cut off from the broker is handed back, not reported
// failed: it may have failed because of the cut, and its failed outcome would fail the run.
func TestGroupFailedAcrossAReconnectIsHandedBack(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	m := metrics.NewWorker(prometheus.NewRegistry())
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w := worker.New(nc, js, b.layout, b.res, worker.Options{ID: "w1", Logger: quiet, Metrics: m})
	servicetest.Start(t, w.Run)
	const run = "cutoff"
	b.putRun(t, run, wire.RunRunning, slowConfig)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gen := &scheduler.Generator{Name: "slow", Type: frame.String, Inputs: []string{"n"},
		Column: func(context.Context, *frame.Frame, []int) (*frame.Column, map[int]error, error) {
			once.Do(func() { close(entered) })
			<-release
			return nil, nil, &scheduler.FatalError{Err: errors.New("model unreachable")}
		}}
	g, err := scheduler.NewGraph([]string{"n"}, []*scheduler.Generator{gen})
	require.NoError(t, err)
	w.UseScheduler(run, scheduler.New(g, scheduler.Options{}))
	ctx := waitCtx(t)

	b.publishGroup(t, run, 0, encode(t, seeds(3)))
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the group never started")
	}
	back := make(chan struct{})
	require.NoError(t, w.Reconnect(func() { close(back) }))
	select {
	case <-back:
	case <-ctx.Done():
		t.Fatal("the worker did not reconnect")
	}
	close(release)
	handedBack := m.Groups.WithLabelValues(metrics.StatusHandedBack)
	failed := m.Groups.WithLabelValues(metrics.StatusFailed)
	require.Eventually(t, func() bool { return testutil.ToFloat64(handedBack)+testutil.ToFloat64(failed) > 0 },
		waitFor, 5*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(handedBack))
	require.Zero(t, b.msgs(t, b.layout.OutcomesStream()), "no failed outcome")
}
