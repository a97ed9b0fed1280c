// Package worker is the process that generates row groups: it pulls prepared groups from the
// shared work queue, one per free slot, runs each through the scheduler, and publishes the
// group's explicit outcome. Workers are stateless and interchangeable; a group a worker cannot
// finish is redelivered to another.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/generators"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/metrics"
	"github.com/rowforge/rowforge/pkg/progress"
	"github.com/rowforge/rowforge/pkg/scheduler"
	"github.com/rowforge/rowforge/pkg/secrets"
	"github.com/rowforge/rowforge/pkg/tools"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Options tune a worker.
type Options struct {
	ID string // default: host-pid-random
	// Concurrency is how many groups the worker runs at once (default 2); it pulls only when a
	// slot is free, so a group never waits in a client buffer while its AckWait runs.
	Concurrency int
	// MaxConcurrency is how many groups it runs at once while its model seats have room for more
	// requests than its groups make (default 16, at least Concurrency): a group's tail, or groups
	// smaller than the cap, do not leave the endpoint idle.
	MaxConcurrency int
	// TaskConcurrency bounds generator calls in flight within one group (default 256). LLM
	// cells wait for their model's admission, not here: this only has to exceed what the
	// models admit, so that a group never starves an endpoint.
	TaskConcurrency int
	// Scheduler builds the scheduler of a run. The default compiles the run's config; another
	// may bring generators of its own (a test's, which blocks until it is cancelled).
	Scheduler func(rec *wire.RunRecord, taskConcurrency int) (*scheduler.Scheduler, error)
	// LLM tunes model calls (patience, backoff, HTTP client).
	LLM llm.Options
	// Heartbeat is how often the worker renews its rf_workers entry (default 5 s; the bucket
	// expires an entry after 15 s).
	Heartbeat time.Duration
	Logger    *slog.Logger
	// Metrics, when set, records groups, cells, model requests and errors; it is the model
	// calls' observer unless LLM has one.
	Metrics *metrics.Worker
	// Secrets resolves the markers of keys redacted from the run record (see package secrets);
	// nil reads them from the environment only.
	Secrets *secrets.Resolver
}

// Worker pulls and runs groups until its context ends.
type Worker struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	layout wire.Layout
	res    *wire.Resources
	store  *runstore.Store
	pub    *wire.Publisher
	prog   *progress.Reporter // cells and model requests of each run, for the controller's display
	opts   Options
	log    *slog.Logger
	state  atomic.Int32 // notStarted, then running, then stopped: for Ready

	mu       sync.Mutex
	runs     map[string]*runEntry                       // compiled runs, by id
	inflight map[string]map[int]context.CancelCauseFunc // run → group → cancel
	aborted  map[string]error                           // runs aborted while this worker ran
	closing  sync.WaitGroup                             // MCP sessions of evicted runs being closed; Run waits

	peers    *peers        // the other live workers, for shares of model caps
	board    *board        // the seats taken in rf_seats
	wake     chan struct{} // a peer, a seat or a group changed: rebalance now
	roomy    signal        // extra fetches were granted
	extra    extra         // fetches granted to the slots beyond Concurrency
	announce sync.Mutex    // orders rf_workers puts; guards announced
	// announced is the demand in the last record put, by run and endpoint.
	announced map[string]map[string]int
}

type runEntry struct {
	rec   *wire.RunRecord
	sched *scheduler.Scheduler
	pool  *llm.Pool       // the run's models; nil without LLM columns
	tools *tools.Registry // the run's MCP sessions; nil without tool configs
	seats []*seats        // this worker's seats of each model of pool
	err   error           // the run's config does not compile here: its groups fail
}

// New returns a worker. It does not take ownership of nc.
func New(nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *wire.Resources, opts Options) *Worker {
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:4])
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.TaskConcurrency <= 0 {
		opts.TaskConcurrency = 256
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 16
	}
	opts.MaxConcurrency = max(opts.MaxConcurrency, opts.Concurrency)
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{nc: nc, js: js, layout: layout, res: res, store: runstore.New(res.Runs), opts: opts,
		pub:  wire.NewPublisher(js, res.Payloads, nc.MaxPayload()),
		prog: progress.NewReporter(nc, layout, opts.ID, progress.ReporterOptions{Logger: log.With("worker", opts.ID)}),
		log:  log.With("worker", opts.ID), runs: map[string]*runEntry{},
		inflight: map[string]map[int]context.CancelCauseFunc{}, aborted: map[string]error{},
		peers: newPeers(wire.WorkerKey(opts.ID)), board: newBoard(), wake: make(chan struct{}, 1)}
}

// ID is the worker's identity, as it appears in outcomes.
func (w *Worker) ID() string { return w.opts.ID }

const (
	notStarted int32 = iota
	running
	stopped
)

// Ready is nil while Run pulls groups, for a health check: an error before the consumer is
// open and once the worker has stopped. It does not follow the NATS connection, which
// reconnects on its own; restarting a worker would not bring the server back sooner.
func (w *Worker) Ready() error {
	switch w.state.Load() {
	case running:
		return nil
	case stopped:
		return errors.New("worker: stopped")
	default:
		return errors.New("worker: not started")
	}
}

// Run pulls and runs groups until ctx ends, then hands back the groups in hand and returns once
// every goroutine it started has stopped.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.Consumer(ctx, w.layout.GroupsStream(), wire.WorkersConsumer)
	if err != nil {
		return fmt.Errorf("worker: open consumer %s: %w", wire.WorkersConsumer, err)
	}
	sub, err := w.nc.Subscribe(w.layout.ControlSubject("*"), w.control)
	if err != nil {
		return fmt.Errorf("worker: subscribe control: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	stopPeers, err := w.peers.watch(ctx, w.res.Workers, w.poke)
	if err != nil {
		return fmt.Errorf("worker: watch %s: %w", w.layout.WorkersBucket(), err)
	}
	defer stopPeers()
	stopBoard, err := w.board.watch(ctx, w.res.Seats, w.poke)
	if err != nil {
		return fmt.Errorf("worker: watch %s: %w", w.layout.SeatsBucket(), err)
	}
	defer stopBoard()

	w.publishRecord(ctx)
	beat, stopBeat := context.WithCancel(ctx)
	// The heartbeat: a worker whose entry expires is presumed gone. The seats follow the
	// groups in hand and the demand of every worker.
	beating := jsx.Every(beat, w.opts.Heartbeat, w.publishRecord)
	balancing := w.balance(beat)
	w.prog.Start(ctx)
	w.log.Info("worker started", "concurrency", w.opts.Concurrency, "max_concurrency", w.opts.MaxConcurrency)
	w.state.Store(running)
	jsx.PullGated(ctx, cons, w.opts.MaxConcurrency, w.ready, w.log, w.handle)
	w.state.Store(stopped)
	stopBeat()
	<-beating
	<-balancing
	w.prog.Stop() // no group in hand: each run's last progress report
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	w.adjustSeats(dctx, "") // no group in hand: every seat goes back
	_ = w.res.Workers.Delete(dctx, wire.WorkerKey(w.opts.ID))
	w.mu.Lock()
	runs := slices.Collect(maps.Values(w.runs))
	clear(w.runs)
	w.mu.Unlock()
	w.closeRuns(runs) // no group in hand: the MCP sessions are free
	w.closing.Wait()
	w.log.Info("worker stopped")
	return nil
}

// publishRecord writes the worker's rf_workers entry: its heartbeat and its groups in flight.
func (w *Worker) publishRecord(ctx context.Context) {
	w.announce.Lock()
	defer w.announce.Unlock()
	w.mu.Lock()
	rec := wire.WorkerRecord{ID: w.opts.ID, InFlight: map[string][]int{}, Updated: time.Now().UTC()}
	for run, groups := range w.inflight {
		for g := range groups {
			rec.InFlight[run] = append(rec.InFlight[run], g)
		}
	}
	w.mu.Unlock()
	rec.Demand = w.demand()
	b, _ := json.Marshal(rec)
	if _, err := w.res.Workers.Put(ctx, wire.WorkerKey(w.opts.ID), b); err != nil && ctx.Err() == nil {
		w.log.Warn("could not publish the worker's record", "err", err)
		w.opts.Metrics.Error(metrics.ErrHeartbeat)
		return
	}
	w.announced = rec.Demand
}

// demand is this worker's requests for each capped endpoint (in flight and waiting), by run and
// endpoint; runs and endpoints with none are left out.
func (w *Worker) demand() map[string]map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out map[string]map[string]int
	for id, e := range w.runs {
		for _, s := range e.seats {
			if d := s.demand(); d > 0 {
				if out == nil {
					out = map[string]map[string]int{}
				}
				if out[id] == nil {
					out[id] = map[string]int{}
				}
				out[id][s.model] = d
			}
		}
	}
	return out
}

// poke asks the balancing loop to run now.
func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// balanceEvery is how often the worker looks at its demand when nothing pokes it: the requests
// waiting for seats change with every reply.
const balanceEvery = 100 * time.Millisecond

// balance keeps the worker's demand announced in rf_workers and its seats at its share, at every
// poke (a peer's record, a seat given back, a group taken or ended) and every balanceEvery, until
// ctx ends. The returned channel closes when it has stopped.
func (w *Worker) balance(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(balanceEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-w.wake:
			}
			w.announce.Lock()
			stale := !maps.EqualFunc(w.announced, w.demand(), maps.Equal)
			w.announce.Unlock()
			if stale {
				w.publishRecord(ctx)
			}
			w.adjustSeats(ctx, "")
			w.extra.grant(w.room())
			w.roomy.notify()
		}
	}()
	return done
}

// ready lets pull slot i fetch a group: the first Concurrency always, the others each on a
// fetch granted by the balancing loop (see room).
func (w *Worker) ready(ctx context.Context, slot int) (fetched func()) {
	if slot < w.opts.Concurrency {
		return nil
	}
	for {
		granted := w.roomy.wait() // before take: a grant made meanwhile is not missed
		if w.extra.take() {
			return w.extra.fetched
		}
		select {
		case <-ctx.Done():
			return nil
		case <-granted:
		}
	}
}

// room is how many more groups the seats of the runs in hand have room for: for each capped
// endpoint, the requests its share could take — were its demand the whole cap — beyond the
// demand, over the demand a group of the run makes; the most of these, and at most as many as
// the groups in hand (a new group's requests take a moment to show in the demand), within
// MaxConcurrency. Runs without capped endpoints have none: they keep to the base slots.
func (w *Worker) room() int {
	type job struct {
		run    string
		s      *seats
		groups int
	}
	var jobs []job
	held := 0
	w.mu.Lock()
	for id, e := range w.runs {
		held += len(w.inflight[id])
		if n := len(w.inflight[id]); n > 0 {
			for _, s := range e.seats {
				jobs = append(jobs, job{id, s, n})
			}
		}
	}
	w.mu.Unlock()
	most := 0
	for _, j := range jobs {
		d := j.s.demand()
		free := w.peers.share(j.run, j.s.model, j.s.capacity, claimant{demand: j.s.capacity, busy: true}) - d
		if free <= 0 {
			continue
		}
		perGroup := max(1, d/j.groups)
		most = max(most, (free+perGroup-1)/perGroup)
	}
	return min(most, held, w.opts.MaxConcurrency-held)
}

// extra rations the pull slots beyond Concurrency: each balance grants as many fetches as the
// seats have room for groups, less the fetches still waiting for one — a moment of room must not
// send every extra slot after a group, each of which would take one when it comes.
type extra struct {
	mu               sync.Mutex
	grants, fetching int
}

func (x *extra) grant(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.grants = max(0, n-x.fetching)
}

func (x *extra) take() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.grants == 0 {
		return false
	}
	x.grants--
	x.fetching++
	return true
}

func (x *extra) fetched() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.fetching--
}

// adjustSeats moves this worker's model seats toward its want (see seats): of every run, or
// only of run when it is not "". A run with no group in flight here wants none.
func (w *Worker) adjustSeats(ctx context.Context, run string) {
	type job struct {
		run  string
		s    *seats
		busy bool
	}
	var jobs []job
	w.mu.Lock()
	for id, e := range w.runs {
		if run != "" && id != run {
			continue
		}
		for _, s := range e.seats {
			jobs = append(jobs, job{id, s, len(w.inflight[id]) > 0})
		}
	}
	w.mu.Unlock()
	for _, j := range jobs {
		want := 0
		if j.busy {
			want = w.peers.share(j.run, j.s.model, j.s.capacity, claimant{demand: j.s.demand(), busy: true})
		}
		j.s.adjust(ctx, want)
	}
}

// handle runs one prepared group and settles its message: ack once the outcome is stored, term
// for a message that cannot be a group, nak (hand back) when the worker is stopping.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	status := "" // for the metrics: the group's final status, or none for a terminated message
	w.opts.Metrics.GroupStarted()
	defer func() { w.opts.Metrics.GroupDone(status) }()
	if ctx.Err() != nil { // a fetch that ran on after the stop: another worker takes it
		status = metrics.StatusHandedBack
		_ = m.NakWithDelay(jsx.FetchWait)
		return
	}
	subj, err := w.layout.ParseSubject("groups", m.Subject())
	var g int
	if err == nil {
		g, err = wire.GroupIndex(subj.ID)
	}
	if err != nil {
		w.opts.Metrics.Error(metrics.ErrMalformedMessage)
		w.term(m, err.Error())
		return
	}
	log := w.log.With("run", subj.Run, "group", g)
	reconnects := w.nc.Stats().Reconnects // see the hand-back of a failed group below
	// The group is listed in rf_workers before the run's state is read, and an abort recorded
	// after that read reaches it by the broadcast: so a controller that aborts either sees the
	// group in flight here and waits for it, or this worker sees the abort and does not start.
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.track(subj.Run, g, cancel)
	w.publishRecord(ctx)
	w.poke() // room for another group, perhaps: the ramp doubles per round trip, not per tick
	defer func() {
		w.untrack(subj.Run, g)
		w.publishRecord(context.WithoutCancel(ctx))
		w.poke() // its seats may go to others, or another group may fit
	}()
	entry, err := w.run(ctx, subj.Run)
	switch {
	case errors.Is(err, runstore.ErrNotFound):
		w.term(m, fmt.Sprintf("unknown run %s", subj.Run))
		return
	case err != nil:
		log.Warn("cannot read the run record; handing the group back", "err", err)
		w.opts.Metrics.Error(metrics.ErrRunRecord)
		status = metrics.StatusHandedBack
		_ = m.NakWithDelay(time.Second)
		return
	case !entry.rec.Active():
		w.term(m, fmt.Sprintf("run %s is %s", subj.Run, entry.rec.State))
		return
	}

	stopBeat := w.heartbeat(gctx, m)
	defer stopBeat()
	for _, s := range entry.seats {
		if s.count() == 0 { // the run's first group here: claim seats now, not at the next tick
			w.adjustSeats(ctx, subj.Run)
			break
		}
	}

	// The group's cells count in the run's progress as they are made; a group handed back
	// takes them off again (another worker makes them).
	tally := w.prog.Counter(subj.Run).Group()
	defer func() {
		flush := tally.End() // already ended when the outcome was published
		if status == metrics.StatusHandedBack {
			tally.Discard()
			flush = true
		}
		if flush {
			w.prog.Flush(subj.Run)
		}
	}()
	usage := &llm.Usage{}
	// The older group's requests take the seats first: groups finish, and commit, in turn,
	// while the younger ones use what the older cannot.
	out, err := w.generate(llm.WithPriority(llm.WithUsage(gctx, usage), g), entry, m, subj.Run, g, tally)
	if err != nil { // the message itself is bad: no worker will do better
		w.opts.Metrics.Error(metrics.ErrMalformedMessage)
		w.term(m, err.Error())
		return
	}
	if ctx.Err() != nil && out.Status == scheduler.Aborted { // the worker is stopping: another takes it
		log.Info("handing the group back", "cause", context.Cause(gctx))
		status = metrics.StatusHandedBack
		// Delayed past this worker's last fetches, which run to their expiry after the stop.
		_ = m.NakWithDelay(jsx.FetchWait)
		return
	}
	// A group that failed while this worker was cut off from the broker may have failed because
	// it was cut off (its model calls too), and may have been redelivered meanwhile: the server
	// takes an ack or an outcome of a stale delivery as any other. A failed outcome fails the
	// run, so such a worker hands the group back and lets a connected one decide.
	if out.Status == scheduler.Failed && w.nc.Stats().Reconnects != reconnects {
		log.Warn("the group failed while this worker lost its connection; handing it back", "err", out.Err)
		status = metrics.StatusHandedBack
		_ = m.NakWithDelay(jsx.FetchWait)
		return
	}
	// The run's counts on this worker are final until its next group: they go before the
	// outcome, so that the controller has them when the run ends.
	countUnreached(tally, out)
	if tally.End() {
		w.prog.Flush(subj.Run)
	}
	if err := w.publishOutcome(ctx, m, subj.Run, g, out, usage.Snapshot()); err != nil {
		log.Warn("could not publish the outcome; handing the group back", "err", err)
		w.opts.Metrics.Error(metrics.ErrPublish)
		status = metrics.StatusHandedBack
		_ = m.NakWithDelay(time.Second)
		return
	}
	status = string(out.Status)
	for column, st := range out.Columns {
		w.opts.Metrics.ColumnCells(column, st.Generated, st.Failed)
	}
	if _, ok := errors.AsType[*llm.UnavailableError](out.Err); ok {
		w.opts.Metrics.Error(metrics.ErrModelUnavailable)
	}
	if err := m.DoubleAck(ctx); err != nil {
		log.Debug("ack failed after the outcome was stored; a redelivery will be deduplicated", "err", err)
	} else {
		wire.DeleteOffloaded(ctx, w.res.Payloads, m)
		if err := w.layout.PurgeCells(ctx, w.js, subj.Run, g); err != nil {
			log.Debug("could not purge the group's kept cells", "err", err)
		}
	}
	log.Debug("group done", "status", out.Status, "rows", out.Rows)
}

// generate decodes the prepared group and runs the scheduler on it. An error means the message
// is malformed; generation failures are in the outcome.
func (w *Worker) generate(ctx context.Context, entry *runEntry, m jetstream.Msg, run string, g int, tally *progress.Group) (scheduler.Outcome, error) {
	if entry.err != nil {
		return scheduler.Outcome{Status: scheduler.Failed, Err: entry.err}, nil
	}
	body, err := wire.Body(ctx, w.res.Payloads, m)
	if err != nil {
		return scheduler.Outcome{}, err
	}
	rec, err := wire.DecodeRecord(body)
	if err != nil {
		return scheduler.Outcome{}, err
	}
	f, err := frame.FromRecord(rec)
	rec.Release()
	if err != nil {
		return scheduler.Outcome{}, err
	}
	count := func(column string, d scheduler.ColumnStats) {
		tally.Cells(column, wire.CellCounts{OK: int64(d.Generated), Failed: int64(d.Failed), Skipped: int64(d.Skipped)})
	}
	if entry.pool == nil { // no model calls: nothing worth keeping across deliveries
		return entry.sched.RunCells(ctx, f, scheduler.Cells{Progress: count}), nil
	}
	cells := w.cells(ctx, run, g)
	cells.Progress = count
	return entry.sched.RunCells(ctx, f, cells), nil
}

// countUnreached counts, in a group's progress tally, the cells of each column that the
// group's end settled without making them: their rows were dropped by another column first.
// With them every column of an ended group counts all its rows.
func countUnreached(tally *progress.Group, out scheduler.Outcome) {
	if out.Status != scheduler.Completed && out.Status != scheduler.Dropped {
		return
	}
	rows := out.Rows + out.Dropped
	for column, st := range out.Columns {
		if n := rows - st.Generated - st.Failed - st.Skipped; n > 0 {
			tally.Cells(column, wire.CellCounts{Dropped: int64(n)})
		}
	}
}

// cells returns the LLM cells a previous delivery of group g kept in rf_cells, and keeps the
// ones this delivery generates: a worker that dies mid-group loses only its requests in flight.
// A cell that cannot be read back is generated again.
func (w *Worker) cells(ctx context.Context, run string, g int) scheduler.Cells {
	c := scheduler.Cells{Keep: func(ctx context.Context, column string, row int, v any) {
		b, err := json.Marshal(v)
		if err == nil {
			_, err = w.res.Cells.Put(ctx, wire.CellKey(run, g, column, row), b)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Debug("could not keep a cell; a redelivery would generate it again", "run", run, "group", g, "err", err)
		}
	}}
	err := wire.ReadKeys(ctx, w.res.Cells, wire.CellsOf(run, g), func(key string, value []byte) error {
		column, row, err := wire.ParseCellKey(key)
		var v any
		if err == nil {
			err = json.Unmarshal(value, &v)
		}
		if err != nil {
			return nil // generated again
		}
		if c.Done == nil {
			c.Done = map[string]map[int]any{}
		}
		if c.Done[column] == nil {
			c.Done[column] = map[int]any{}
		}
		c.Done[column][row] = v
		return nil
	})
	if err != nil {
		w.log.Warn("could not read the group's kept cells", "run", run, "group", g, "err", err)
		w.opts.Metrics.Error(metrics.ErrKeptCells)
		return scheduler.Cells{Keep: c.Keep}
	}
	if n := len(c.Done); n > 0 {
		w.log.Info("resuming a group from its kept cells", "run", run, "group", g, "columns", n)
	}
	return c
}

// outcomeStatus is how the protocol says each of the scheduler's statuses. The scheduler keeps
// its own type: it stays free of the wire and the broker (TestImportsStayPure).
var outcomeStatus = map[scheduler.Status]wire.OutcomeStatus{
	scheduler.Completed: wire.OutcomeCompleted, scheduler.Dropped: wire.OutcomeDropped,
	scheduler.Failed: wire.OutcomeFailed, scheduler.Aborted: wire.OutcomeAborted,
}

func (w *Worker) publishOutcome(ctx context.Context, m jetstream.Msg, run string, g int, out scheduler.Outcome, usage map[string]llm.ModelUsage) error {
	o := wire.Outcome{Run: run, Group: g, Status: outcomeStatus[out.Status], Worker: w.opts.ID,
		Stats: &wire.GroupStats{Rows: out.Rows, Dropped: out.Dropped, Columns: map[string]wire.ColumnStats{}}}
	for k, v := range out.Columns {
		o.Stats.Columns[k] = wire.ColumnStats(v)
	}
	for k, v := range usage {
		if o.Stats.Models == nil {
			o.Stats.Models = map[string]wire.ModelUsage{}
		}
		o.Stats.Models[k] = wire.ModelUsage(v)
	}
	if out.Err != nil {
		o.Err = out.Err.Error()
	}
	if ae, ok := errors.AsType[*wire.AbortError](out.Err); ok {
		o.AbortReason = ae.Reason
	}
	hdr, err := o.Header()
	if err != nil {
		return err
	}
	var body []byte
	if out.Status == scheduler.Completed {
		rec := out.Frame.ToRecord(nil)
		body, err = wire.EncodeRecord(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return w.pub.Publish(ctx, w.layout.OutcomeSubject(run, wire.KindGroup, strconv.Itoa(g)),
		wire.ReplyID(m, "outcome", fmt.Sprintf("%s/%d/outcome", run, g)), hdr, body)
}

// heartbeat tells the server the group is still being worked on, so a long group is not
// redelivered to another worker while this one is healthy.
func (w *Worker) heartbeat(ctx context.Context, m jetstream.Msg) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ackWait := w.layout.AckWait
		if ackWait <= 0 { // a zero Layout field means its default
			ackWait = wire.DefaultLayout().AckWait
		}
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// run returns the compiled run, reading its record from rf_runs the first time. The state is
// re-read for every group so that an abort recorded there stops new work even if its broadcast
// was missed.
func (w *Worker) run(ctx context.Context, id string) (*runEntry, error) {
	rec, err := w.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var evicted []*runEntry
	defer func() {
		if len(evicted) > 0 { // in the background: a stdio MCP server takes seconds to stop, the group in hand has none to lose
			w.closing.Go(func() { w.closeRuns(evicted) })
		}
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.runs[id]; ok { // the compiled run is shared; the record is this call's own
		return &runEntry{rec: rec, sched: e.sched, pool: e.pool, tools: e.tools, seats: e.seats, err: e.err}, nil
	}
	e := &runEntry{rec: rec}
	var caps []capped
	if w.opts.Scheduler != nil {
		e.sched, e.err = w.opts.Scheduler(rec, w.opts.TaskConcurrency)
	} else {
		e.sched, e.pool, e.tools, caps, e.err = w.compileRun(rec)
	}
	if e.pool != nil {
		for _, m := range e.pool.Models() {
			caps = append(caps, capped{name: m.Alias(), capacity: m.Capacity(), limiter: m.Limiter()})
		}
	}
	for _, c := range caps {
		e.seats = append(e.seats, newSeats(w.res.Seats, w.opts.ID, id, c.name, c.capacity, c.limiter, w.board))
	}
	if len(w.runs) > 64 { // a long-lived worker sees many runs; keep the cache small
		for rid, old := range w.runs {
			if len(w.inflight[rid]) == 0 { // its tools are not in use
				delete(w.runs, rid)
				w.board.forget(rid)
				evicted = append(evicted, old)
			}
		}
	}
	w.runs[id] = e
	return e, nil
}

// closeRuns ends the MCP sessions of runs dropped from the cache, or of all at the stop, and
// drops their progress counts.
func (w *Worker) closeRuns(entries []*runEntry) {
	for _, e := range entries {
		if e.rec != nil { // nil for a test's scheduler (UseScheduler)
			w.prog.Forget(e.rec.ID)
		}
		if e.tools != nil {
			if err := e.tools.Close(); err != nil {
				w.log.Warn("closing MCP sessions", "run", e.rec.ID, "err", err)
			}
		}
	}
}

// compileRun builds the scheduler of a run from the config in its record, the run's models on
// their providers (the config's own, then the record's — the controller's --providers file —,
// then the built-in ones; keys read from this worker's environment, a redacted literal key from
// Options.Secrets), and the registry of its MCP providers, which connects when a column first
// needs its tools.
func (w *Worker) compileRun(rec *wire.RunRecord) (*scheduler.Scheduler, *llm.Pool, *tools.Registry, []capped, error) {
	cfg, err := config.Parse(rec.Config, seeddata.Recorded(rec.SeedData))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("run %s: config: %w", rec.ID, err)
	}
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(rec.Providers))
	if err := w.opts.Secrets.Fill(cfg, providers); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
	}
	var pool *llm.Pool
	if len(cfg.Models) > 0 {
		opts := w.opts.LLM
		if opts.Logger == nil {
			opts.Logger = w.log.With("run", rec.ID)
		}
		if opts.Observer == nil && w.opts.Metrics != nil { // a nil *metrics.Worker in the interface is not nil
			opts.Observer = w.opts.Metrics
		}
		opts.Observer = llm.Observers(opts.Observer, w.prog.Counter(rec.ID))
		// No request before this worker holds seats: they set each model's ceiling.
		noSeats := func(int) int { return 0 }
		if pool, err = llm.NewPool(cfg, providers, noSeats, opts); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
		}
	}
	var reg *tools.Registry
	if len(cfg.Tools) > 0 {
		reg = tools.NewRegistry(cfg.MCPProviders, w.log.With("run", rec.ID))
	}
	s, caps, err := compile(cfg, pool, reg, w.opts.TaskConcurrency, true)
	if err != nil {
		if reg != nil {
			_ = reg.Close() // nothing connected yet
		}
		return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
	}
	return s, pool, reg, caps, nil
}

// capped is an endpoint whose cap holds across the workers of a run through seats (see
// seats): a model, or a remote validator.
type capped struct {
	name     string
	capacity int
	limiter  *llm.Limiter
}

// Compile builds the scheduler that generates cfg's non-seed columns, taskConcurrency
// generator calls at a time; LLM columns call models of pool, and the tools of reg (nil
// without tool configs). A remote validator's cap holds on this process only: a worker holds
// it across workers (compile with seats).
func Compile(cfg *config.Config, pool *llm.Pool, reg *tools.Registry, taskConcurrency int) (*scheduler.Scheduler, error) {
	s, _, err := compile(cfg, pool, reg, taskConcurrency, false)
	return s, err
}

// compile is Compile; with seated, each remote validator's requests are admitted by a limiter
// that starts closed and that the worker's seats open, returned among the capped endpoints.
func compile(cfg *config.Config, pool *llm.Pool, reg *tools.Registry, taskConcurrency int, seated bool) (*scheduler.Scheduler, []capped, error) {
	var seeds []string
	for _, c := range cfg.SeedColumns() {
		seeds = append(seeds, c.Name)
	}
	var gens []*scheduler.Generator
	var caps []capped
	for _, c := range cfg.GeneratedColumns() {
		var g *scheduler.Generator
		var err error
		if config.IsLLM(c.Type) {
			var m *llm.Model
			if pool != nil {
				m = pool.Model(c.LLM.ModelAlias)
			}
			if m == nil {
				return nil, nil, fmt.Errorf("column %q: no model %q", c.Name, c.LLM.ModelAlias)
			}
			var toolbox generators.Toolbox
			if tc := cfg.Tool(c.LLM.ToolAlias); tc != nil {
				if reg == nil {
					return nil, nil, fmt.Errorf("column %q: no MCP providers for tool_alias %q", c.Name, tc.Alias)
				}
				toolbox = reg.Toolset(tc)
			}
			g, err = generators.LLM(c, m, toolbox)
		} else if c.Type == config.TypeEmbedding {
			var m *llm.Model
			if pool != nil {
				m = pool.Model(c.LLM.ModelAlias)
			}
			if m == nil {
				return nil, nil, fmt.Errorf("column %q: no model %q", c.Name, c.LLM.ModelAlias)
			}
			g, err = generators.Embedding(c, m)
		} else if c.Type == config.TypeValidation {
			var opts generators.ValidationOptions
			if seated && c.Validation.Type == config.ValidatorRemote {
				opts.Limiter = llm.NewLimiter(0) // no request before this worker holds seats
				caps = append(caps, capped{name: "validator:" + c.Name, capacity: c.Validation.MaxParallelRequests, limiter: opts.Limiter})
			}
			g, err = generators.Validation(c, opts)
		} else {
			g, err = generators.Expression(c)
		}
		if err != nil {
			return nil, nil, err
		}
		gens = append(gens, g)
	}
	graph, err := scheduler.NewGraph(seeds, gens)
	if err != nil {
		return nil, nil, err
	}
	return scheduler.New(graph, scheduler.Options{Concurrency: taskConcurrency}), caps, nil
}

// control cancels the groups in flight of a run that was aborted.
func (w *Worker) control(m *nats.Msg) {
	subj, err := w.layout.ParseSubject("control", m.Subject)
	if err != nil {
		return
	}
	ctl, err := wire.DecodeControl(m.Data)
	if err != nil {
		w.log.Warn("ignored control message", "subject", m.Subject, "err", err)
		w.opts.Metrics.Error(metrics.ErrMalformedMessage)
		return
	}
	cause := &wire.AbortError{Reason: ctl.Reason}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.aborted) > 256 { // a long-lived worker: forget old aborts (the run state still says)
		clear(w.aborted)
	}
	w.aborted[subj.Run] = cause
	for g, cancel := range w.inflight[subj.Run] {
		w.log.Info("cancelling group of an aborted run", "run", subj.Run, "group", g, "reason", ctl.Reason)
		cancel(cause)
	}
}

func (w *Worker) track(run string, g int, cancel context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[run] == nil {
		w.inflight[run] = map[int]context.CancelCauseFunc{}
	}
	w.inflight[run][g] = cancel
	if cause, ok := w.aborted[run]; ok { // the broadcast came first
		cancel(cause)
	}
}

func (w *Worker) untrack(run string, g int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inflight[run], g)
	if len(w.inflight[run]) == 0 {
		delete(w.inflight, run)
	}
}

func (w *Worker) term(m jetstream.Msg, reason string) { jsx.Term(w.log, m, reason) }

// signal wakes every goroutine waiting on it, at each notify.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that closes at the next notify.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
