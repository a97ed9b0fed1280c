package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/persons"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/generators"
	"github.com/rowforge/rowforge/pkg/processors"
	"github.com/rowforge/rowforge/pkg/wire"
)

// NewRunID returns a short id that is a valid subject token and KV key, and short enough for an
// operator to type.
func NewRunID() string {
	id := uuid.New()
	return fmt.Sprintf("%x", id[:6])
}

// Progress is reported after each group reaches its end.
type Progress struct {
	RunID                  string
	Groups, GroupsDone     int
	Rows, TargetRows       int
	GroupsDropped, Dropped int // dropped groups and dropped rows so far
}

// Result is the explicit outcome of a run.
type Result struct {
	RunID    string
	Mode     string        // wire.ModeBuild or wire.ModePreview
	Status   wire.RunState // wire.RunCompleted, wire.RunPartial, wire.RunFailed or wire.RunAborted
	Groups   int
	Dropped  int // groups whose every row was dropped
	Rows     int // rows committed
	Commits  []wire.Commit
	Metadata *wire.Metadata
	// Resumed is, for a resumed run, how many groups had ended before: they were not generated
	// again.
	Resumed int
	// Usage counts model requests and tokens by alias, over the groups that ended.
	Usage map[string]wire.ModelUsage
}

// Controller runs datasets over one JetStream deployment. It is safe for sequential and
// concurrent Runs; each Run owns its goroutines and stops them before returning.
type Controller struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	layout    wire.Layout
	res       *wire.Resources
	runs      *runstore.Store
	pub       *wire.Publisher
	log       *slog.Logger
	progress  func(Progress)
	abortWait time.Duration
	// drainWaiting is called when an abort waits on workers that still hold groups of the run;
	// nil outside tests (export_test.go sets it), where it proves the controller waits.
	drainWaiting func(busy map[string][]int)
	// groupEnding is called as each group ends, before its progress is recorded; nil outside
	// tests. Returning errStop stops the run on the spot, as kill -9 would: no shutdown, no
	// cleanup, its state left on the broker for a resume.
	groupEnding func(g int) error
}

// New returns a controller using nc. It does not take ownership of nc.
func New(nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *wire.Resources, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{nc: nc, js: js, layout: layout, res: res, runs: runstore.New(res.Runs), log: log,
		pub: wire.NewPublisher(js, res.Payloads, nc.MaxPayload()), abortWait: time.Minute}
}

// OnProgress sets a callback called from the run's loop after each group ends; it must not block.
func (c *Controller) OnProgress(fn func(Progress)) { c.progress = fn }

type eventKind int

const (
	evAdmitted eventKind = iota // before the group is published: its outcome may come back at once
	evOutcome
	evCommitted
	evFailed
	evAbort
)

type event struct {
	kind   eventKind
	group  int
	sides  []processors.SideOutput // evAdmitted: PRE_BATCH side outputs, written with the group
	empty  bool                    // evAdmitted: PRE_BATCH left no rows; nothing is published
	msg    jetstream.Msg
	commit wire.Commit
	err    error
}

// groupState tracks an admitted group until it ends. Only the admission window is held.
type groupState struct {
	outcome jetstream.Msg           // held unacked until the sink commits
	sides   []processors.SideOutput // from PRE_BATCH
	usage   map[string]wire.ModelUsage
}

type run struct {
	c    *Controller
	cfg  *config.Config
	opts Options
	plan Plan
	sink Sink
	// samplers draw each group's sampler columns (with the config's constraints).
	samplers *generators.Samplers
	// seedRows hands out each group's seed dataset rows; nil without a seed_config. Only
	// the admission goroutine reads it.
	seedRows *seeddata.Reader
	seedInfo *wire.SeedInfo
	pre      []processors.Processor // PRE_BATCH, in config order
	post     []processors.Processor // POST_BATCH, in config order
	events   chan event
	slots    chan struct{}
	claims   *claims // the groups workers took; nil: admission does not wait for them
	wg       sync.WaitGroup

	active map[int]*groupState
	ended  []bool // per group: committed or dropped (one bit's worth per group)
	nEnded int
	result Result

	gate *errorGate // nil when early shutdown is disabled
	// partial is set when the gate tripped under AllowPartial: nothing more is admitted or
	// written, and the run finalizes once the writes in progress (writes) are committed.
	partial       bool
	writes        int
	stopAdmission context.CancelFunc
	// endedBefore marks the groups a resumed run found in the ledger; read-only once the loop
	// runs (r.ended is the loop's).
	endedBefore []bool
	// epoch is the run record's epoch this controller owns the run under (see wire.RunRecord).
	epoch int
}

// Run generates the dataset of cfg and returns when every group is committed and the metadata
// written, or when the run failed or was aborted — and then only after its own goroutines have
// stopped. The error is a *DatasetGenerationError, or matches ErrAborted.
func (c *Controller) Run(ctx context.Context, cfg *config.Config, opts Options, sink Sink) (*Result, error) {
	opts.setDefaults()
	if opts.NumRecords <= 0 {
		return nil, fmt.Errorf("num_records must be positive, got %d", opts.NumRecords)
	}
	if err := wire.ValidToken(opts.RunID); err != nil { // it becomes a subject token and a KV key
		return nil, fmt.Errorf("run id: %w", err)
	}
	r, err := c.newRun(cfg, opts, sink)
	if err != nil {
		return nil, err
	}
	rec := opts.record(r.seedInfo, r.plan.Groups())
	if rec.Config, err = cfg.SourceJSON(); err != nil {
		return nil, r.genErr(-1, fmt.Errorf("encode config: %w", err))
	}
	if err := c.runs.Create(ctx, &rec); err != nil {
		return nil, r.genErr(-1, err)
	}
	c.log.Info("run started", "run", opts.RunID, "records", opts.NumRecords, "groups", r.plan.Groups(),
		"buffer_size", opts.BufferSize, "mode", opts.Mode)
	return r.execute(ctx)
}

// Resume continues a run whose controller stopped before the run ended — killed, or its
// machine lost. Everything it needs is on the broker: the run record (config and options), the
// ledger of ended groups, and the outcomes and sink commits not yet taken. Groups the ledger
// holds are not generated again; the others are prepared again from the seed, so the dataset
// equals an uninterrupted run's. A run aborted while it had no controller is drained and
// discarded instead. Resuming bumps the run's epoch: a controller of the run that is in fact
// still alive stops at its next group (SupersededError).
func (c *Controller) Resume(ctx context.Context, runID string, sink Sink) (*Result, error) {
	rec, err := c.claim(ctx, runID)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(rec.Config, seeddata.Recorded(rec.SeedData))
	if err != nil {
		return nil, fmt.Errorf("run %s: its recorded config: %w", runID, err)
	}
	opts := optionsFromRecord(rec)
	r, err := c.newRun(cfg, opts, sink)
	if err != nil {
		return nil, err
	}
	r.epoch = rec.Epoch
	if rec.State == wire.RunAborting { // aborted while it had no controller: finish the abort
		cause := &AbortedError{RunID: runID, Reason: rec.Reason}
		r.result.Status = wire.RunAborted
		r.shutdown(cause, wire.RunAborted)
		return &r.result, cause
	}
	ends, err := wire.ReadLedger(ctx, c.res.Commits, runID)
	if err != nil {
		return nil, r.genErr(-1, err)
	}
	for g, e := range ends {
		if g >= r.plan.Groups() {
			return nil, r.genErr(g, fmt.Errorf("the ledger names group %d of a run of %d groups", g, r.plan.Groups()))
		}
		r.ended[g], r.endedBefore[g] = true, true
		r.nEnded++
		wire.AddUsage(&r.result.Usage, e.Usage)
		if e.Status == wire.EndDropped {
			r.result.Dropped++
			continue
		}
		r.result.Rows += e.Commit.Rows
		r.result.Commits = append(r.result.Commits, *e.Commit)
	}
	r.result.Resumed = len(ends)
	// The stopped controller's groups still queued are prepared again under this epoch's ids.
	r.purgeQueued(ctx)
	c.log.Info("run resumed", "run", runID, "epoch", r.epoch, "groups", r.plan.Groups(), "groups_done", r.nEnded,
		"rows", r.result.Rows)
	return r.execute(ctx)
}

// claim takes a run over for a resume: it bumps the run's epoch, compare-and-swap.
func (c *Controller) claim(ctx context.Context, runID string) (*wire.RunRecord, error) {
	if err := wire.ValidToken(runID); err != nil {
		return nil, fmt.Errorf("run id: %w", err)
	}
	rec, err := c.runs.Update(ctx, runID, func(rec *wire.RunRecord) error {
		if rec.State.Ended() {
			return &NotResumableError{RunID: runID, State: rec.State}
		}
		rec.Epoch++
		return nil
	})
	if errors.Is(err, runstore.ErrNotFound) {
		return nil, fmt.Errorf("run %s: %w", runID, ErrUnknownRun)
	}
	return rec, err
}

// BuildSamplers builds what draws a run's sampler columns, reading the person datasets its
// person samplers need: Run does it when opts.Samplers is nil; a caller may do it before it
// connects anywhere, so that a missing dataset is found first. It sets opts.StartedAt when
// unset: ages count to that date.
func BuildSamplers(cfg *config.Config, opts *Options) (*generators.Samplers, error) {
	if opts.StartedAt.IsZero() {
		opts.StartedAt = time.Now().UTC()
	}
	if opts.Assets != "" { // recorded for a resume, which may run elsewhere
		abs, err := filepath.Abs(opts.Assets)
		if err != nil {
			return nil, err
		}
		opts.Assets = abs
	}
	s, err := generators.NewSamplers(cfg.SamplerColumns(), cfg.Constraints, generators.SamplerOptions{
		AsOf: opts.StartedAt, Seed: opts.Seed, Persons: persons.NewSource(opts.Assets),
		PersonPool: max(generators.DefaultPersonPool, opts.BufferSize),
	})
	if err != nil {
		return nil, &config.Error{Field: "columns", Msg: err.Error()}
	}
	return s, nil
}

// newRun prepares the state of one run; opts have their defaults.
func (c *Controller) newRun(cfg *config.Config, opts Options, sink Sink) (*run, error) {
	r := &run{
		c: c, cfg: cfg, opts: opts, plan: Plan{opts.NumRecords, opts.BufferSize}, sink: sink,
		events: make(chan event), slots: make(chan struct{}, opts.MaxConcurrentRowGroups),
		active: map[int]*groupState{},
	}
	var err error
	if r.samplers = opts.Samplers; r.samplers == nil {
		if r.samplers, err = BuildSamplers(cfg, &opts); err != nil {
			return nil, err
		}
	}
	if cfg.Seed != nil {
		if err := r.openSeed(cfg, &opts); err != nil {
			return nil, err
		}
	}
	procs, err := processors.FromConfig(cfg, c.nc)
	if err != nil {
		return nil, &config.Error{Field: "processors", Msg: err.Error()}
	}
	for _, p := range procs {
		if p.Stage() == processors.PreBatch {
			r.pre = append(r.pre, p)
		} else {
			r.post = append(r.post, p)
		}
	}
	r.ended = make([]bool, r.plan.Groups())
	r.endedBefore = make([]bool, r.plan.Groups())
	if !opts.DisableEarlyShutdown {
		r.gate = newErrorGate(opts.ShutdownErrorRate, opts.ShutdownErrorWindow)
	}
	r.result = Result{RunID: opts.RunID, Mode: opts.Mode, Groups: r.plan.Groups()}
	return r, nil
}

// execute runs the loop and, when it fails, stops the run.
func (r *run) execute(ctx context.Context) (*Result, error) {
	if r.seedRows != nil {
		defer func() { _ = r.seedRows.Close() }()
	}
	err := r.loop(ctx)
	if err == nil {
		return &r.result, nil
	}
	if errors.Is(err, errStop) {
		return &r.result, err
	}
	var sup *SupersededError
	if errors.As(err, &sup) { // the run is another controller's now: leave it running
		r.c.log.Warn("stopping: the run was resumed elsewhere", "run", r.opts.RunID, "err", err)
		r.result.Status = wire.RunRunning
		return &r.result, err
	}
	state := wire.RunFailed
	if errors.Is(err, ErrAborted) {
		state = wire.RunAborted
	}
	r.result.Status = state
	r.shutdown(err, state)
	return &r.result, err
}

// loop runs the lifecycle until every group has ended and the metadata is committed.
func (r *run) loop(parent context.Context) (err error) {
	ctx, cancel := context.WithCancelCause(parent)
	var cc jetstream.ConsumeContext
	var sub, exhausted *nats.Subscription
	// One ordered teardown: cancel first, so that a consume callback or a sink writer blocked
	// handing an event to this loop returns, then wait for each of them.
	defer func() {
		cancel(errors.New("run loop ended"))
		if cc != nil {
			cc.Stop()
			<-cc.Closed()
		}
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		if exhausted != nil {
			_ = exhausted.Unsubscribe()
		}
		r.wg.Wait() // admission and sink writers
	}()

	// A consumer left by a controller that stopped holds its outcomes unacked until their
	// AckWait: a new one delivers every outcome still in the stream now.
	if err := r.c.js.DeleteConsumer(ctx, r.c.layout.OutcomesStream(), wire.RunConsumer(r.opts.RunID)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		return r.genErr(-1, fmt.Errorf("outcome consumer: %w", err))
	}
	cons, err := r.c.js.CreateOrUpdateConsumer(ctx, r.c.layout.OutcomesStream(), jetstream.ConsumerConfig{
		Durable: wire.RunConsumer(r.opts.RunID),
		FilterSubjects: []string{
			r.c.layout.OutcomeSubject(r.opts.RunID, wire.KindGroup, "*"),
			r.c.layout.OutcomeSubject(r.opts.RunID, wire.KindDrain, "*"),
		},
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       5 * time.Minute, // outcomes are held until the sink commits
		MaxAckPending: 4 * r.opts.MaxConcurrentRowGroups,
	})
	if err != nil {
		return r.genErr(-1, fmt.Errorf("outcome consumer: %w", err))
	}
	cc, err = cons.Consume(func(m jetstream.Msg) { r.emit(ctx, event{kind: evOutcome, msg: m}) },
		jetstream.PullMaxMessages(2*r.opts.MaxConcurrentRowGroups))
	if err != nil {
		return r.genErr(-1, fmt.Errorf("consume outcomes: %w", err))
	}

	sub, err = r.c.nc.Subscribe(r.c.layout.ControlSubject(r.opts.RunID), func(m *nats.Msg) {
		ctl, err := wire.DecodeControl(m.Data)
		if err != nil {
			r.c.log.Warn("ignored control message", "run", r.opts.RunID, "err", err)
			return
		}
		r.emit(ctx, event{kind: evAbort, err: &AbortedError{RunID: r.opts.RunID, Reason: ctl.Reason}})
	})
	if err != nil {
		return r.genErr(-1, fmt.Errorf("subscribe control: %w", err))
	}
	// A group no worker could finish in MaxDeliver tries would otherwise be waited for forever.
	exhausted, err = r.c.nc.Subscribe(r.c.layout.MaxDeliveriesSubject(), func(m *nats.Msg) {
		if g, n, ok := r.exhaustedGroup(ctx, m.Data); ok {
			r.emit(ctx, event{kind: evFailed, group: g, err: &DeliveriesExhaustedError{Group: g, Deliveries: n}})
		}
	})
	if err != nil {
		return r.genErr(-1, fmt.Errorf("subscribe advisories: %w", err))
	}

	actx, stopAdmission := context.WithCancel(ctx)
	defer stopAdmission()
	r.stopAdmission = stopAdmission
	claims := newClaims(r.opts.RunID)
	if stopClaims, err := claims.watch(actx, r.c.res.Workers); err != nil {
		r.c.log.Warn("cannot follow the workers' groups; admitting the whole window at once", "run", r.opts.RunID, "err", err)
	} else {
		r.claims = claims
		r.wg.Go(func() { <-actx.Done(); stopClaims() })
	}
	r.wg.Add(1)
	go r.admit(actx)

	for r.nEnded < r.plan.Groups() && !(r.partial && r.writes == 0) {
		select {
		case <-parent.Done():
			return &AbortedError{RunID: r.opts.RunID, Reason: context.Cause(parent).Error()}
		case ev := <-r.events:
			if err := r.handle(ctx, ev); err != nil {
				return err
			}
		}
	}
	if r.partial { // stopping early is terminal too: nothing of the run may still be running
		dctx, cancel := context.WithTimeout(ctx, r.c.abortWait)
		r.awaitDrain(dctx)
		cancel()
	}
	return r.finalize(ctx)
}

// emit hands an event to the loop, or drops it once the run is over.
func (r *run) emit(ctx context.Context, ev event) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// admit prepares and publishes groups in plan order, never more than the window at once, and
// each once the one published before it was taken by a worker (see claims).
func (r *run) admit(ctx context.Context) {
	defer r.wg.Done()
	last := -1 // the group published last
	for g := range r.plan.Groups() {
		if r.endedBefore[g] {
			continue
		}
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		f, sides, err := r.prepare(ctx, g)
		if err != nil {
			r.emit(ctx, event{kind: evFailed, group: g, err: err})
			return
		}
		if last >= 0 && r.claims != nil {
			r.claims.await(ctx, last)
		}
		// Registered before it is published: its outcome may come back at once.
		r.emit(ctx, event{kind: evAdmitted, group: g, sides: sides, empty: f.Len() == 0})
		if f.Len() == 0 {
			continue
		}
		if err := r.publish(ctx, g, f); err != nil {
			r.emit(ctx, event{kind: evFailed, group: g, err: err})
			return
		}
		last = g
	}
}

// prepare materializes group g's seed columns and runs PRE_BATCH on them. The row count it
// returns is the one the workers' trackers are built from, so it is fixed here: a processor
// changes it only if it says allow_resize.
func (r *run) prepare(ctx context.Context, g int) (*frame.Frame, []processors.SideOutput, error) {
	size := r.plan.Size(g)
	f, err := r.samplers.Draw(r.opts.Seed, g, size)
	if err != nil {
		return nil, nil, fmt.Errorf("sampler columns: %w", err)
	}
	if r.seedRows != nil {
		if f, err = r.withSeedRows(ctx, g, f); err != nil {
			return nil, nil, err
		}
	}
	if f.Len() != size {
		return nil, nil, fmt.Errorf("seed columns have %d rows, want %d", f.Len(), size)
	}
	return r.stage(ctx, r.pre, g, f)
}

// stage runs one stage's processors in config order and collects their side outputs. A
// processor that changes the row count fails the run, unless it may resize.
func (r *run) stage(ctx context.Context, procs []processors.Processor, g int, f *frame.Frame) (*frame.Frame, []processors.SideOutput, error) {
	var sides []processors.SideOutput
	for _, p := range procs {
		res, err := processors.Run(ctx, p, g, f)
		if err != nil {
			return nil, nil, err
		}
		if res.Frame.Len() != f.Len() && !p.AllowResize() {
			return nil, nil, &ResizeError{Processor: p.Name(), Stage: string(p.Stage()), Group: g,
				Before: f.Len(), After: res.Frame.Len()}
		}
		f = res.Frame
		sides = append(sides, res.Side...)
	}
	return f, sides, nil
}

// publish sends a prepared group to the workers.
func (r *run) publish(ctx context.Context, g int, f *frame.Frame) error {
	rec := f.ToRecord(nil)
	body, err := wire.EncodeRecord(rec)
	rec.Release()
	if err != nil {
		return err
	}
	return r.c.pub.Publish(ctx, r.c.layout.GroupSubject(r.opts.RunID, g), r.msgID(g, "prepared"), nats.Header{
		wire.HeaderRun:   []string{r.opts.RunID},
		wire.HeaderGroup: []string{strconv.Itoa(g)},
	}, body)
}

func (r *run) msgID(g int, kind string) string {
	return fmt.Sprintf("%s/%d/%s/e%d", r.opts.RunID, g, kind, r.epoch)
}

func (r *run) handle(ctx context.Context, ev event) error {
	switch ev.kind {
	case evAdmitted:
		if r.partial {
			return nil
		}
		r.active[ev.group] = &groupState{sides: ev.sides}
		if ev.empty {
			r.result.Dropped++
			r.record(ctx, ev.group, wire.GroupEnd{Status: wire.EndDropped})
			return r.end(ev.group)
		}
	case evFailed:
		return r.genErr(ev.group, ev.err)
	case evAbort:
		return ev.err
	case evCommitted:
		r.writes--
		st := r.active[ev.group]
		if st == nil || r.ended[ev.group] {
			return nil
		}
		if err := st.outcome.Ack(); err != nil {
			r.c.log.Debug("ack of a committed outcome failed; it will be redelivered and ignored", "group", ev.group, "err", err)
		}
		wire.DeleteOffloaded(ctx, r.c.res.Payloads, st.outcome)
		wire.AddUsage(&r.result.Usage, st.usage)
		r.result.Rows += ev.commit.Rows
		r.result.Commits = append(r.result.Commits, ev.commit)
		return r.end(ev.group)
	case evOutcome:
		return r.outcome(ctx, ev.msg)
	}
	return nil
}

// end retires a group and frees its admission slot. It fails only when another controller has
// taken the run over.
func (r *run) end(g int) error {
	if r.c.groupEnding != nil {
		if err := r.c.groupEnding(g); err != nil {
			return err
		}
	}
	delete(r.active, g)
	r.ended[g] = true
	r.nEnded++
	<-r.slots
	if r.claims != nil {
		r.claims.mark(g) // taken or not, it is not waiting for a worker any more
	}
	if r.c.progress != nil {
		r.c.progress(Progress{RunID: r.opts.RunID, Groups: r.plan.Groups(), GroupsDone: r.nEnded,
			Rows: r.result.Rows, TargetRows: r.opts.NumRecords, GroupsDropped: r.result.Dropped})
	}
	// For `controller status`; best effort: a slow bucket must not slow the run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p := wire.RunProgress{Groups: r.plan.Groups(), GroupsDone: r.nEnded, Dropped: r.result.Dropped, Rows: r.result.Rows}
	if err := r.update(ctx, func(rec *wire.RunRecord) { rec.Progress = p }); err != nil {
		var sup *SupersededError
		if errors.As(err, &sup) {
			return err
		}
		r.c.log.Debug("could not record progress", "run", r.opts.RunID, "err", err)
	}
	return nil
}

// record writes group g's end to the ledger, before its outcome is acked, so that a resumed
// run does not generate it again. A write that fails costs only that: a resume would redo the
// group, and the sink overwrites it with the same rows.
func (r *run) record(ctx context.Context, g int, end wire.GroupEnd) {
	b, _ := json.Marshal(end)
	if _, err := r.c.res.Commits.Put(ctx, wire.LedgerKey(r.opts.RunID, g), b); err != nil {
		r.c.log.Warn("could not record the group in the ledger; a resume would generate it again",
			"run", r.opts.RunID, "group", g, "err", err)
	}
}

// outcome handles one message of the run's outcome consumer.
func (r *run) outcome(ctx context.Context, m jetstream.Msg) error {
	subj, err := r.c.layout.ParseSubject("outcomes", m.Subject())
	if err != nil || subj.Run != r.opts.RunID {
		r.term(m, fmt.Sprintf("not an outcome of run %s: %v", r.opts.RunID, err))
		return nil
	}
	if subj.Kind == wire.KindDrain { // drain acks matter when aborting; see shutdown
		_ = m.Ack()
		return nil
	}
	g, err := wire.GroupIndex(subj.ID)
	if err != nil || g >= r.plan.Groups() {
		r.term(m, fmt.Sprintf("no such group %q in run %s", subj.ID, r.opts.RunID))
		return nil
	}
	st := r.active[g]
	if r.ended[g] || st == nil || st.outcome != nil || r.partial { // a duplicate, or too late
		_ = m.Ack()
		return nil
	}
	o, err := wire.DecodeOutcome(m.Headers())
	if err != nil {
		_ = m.Ack()
		return r.genErr(g, err)
	}
	if o.Status == wire.OutcomeCompleted || o.Status == wire.OutcomeDropped {
		if stop, err := r.checkGate(ctx, o.Stats); err != nil {
			_ = m.Ack()
			return r.genErr(g, err)
		} else if stop {
			_ = m.Ack()
			return nil
		}
	}
	switch o.Status {
	case wire.OutcomeCompleted:
		body, err := wire.Body(ctx, r.c.res.Payloads, m)
		if err != nil {
			return r.genErr(g, fmt.Errorf("outcome from worker %s: %w", o.Worker, err))
		}
		rec, err := wire.DecodeRecord(body)
		if err != nil {
			return r.genErr(g, fmt.Errorf("outcome from worker %s: %w", o.Worker, err))
		}
		st.outcome, st.usage = m, o.Stats.Models
		sides, usage := st.sides, o.Stats.Models
		r.writes++
		r.wg.Add(1)
		go func() { // POST_BATCH may run a program: off the loop, like the sink write
			defer r.wg.Done()
			commit, err := r.finish(ctx, g, rec, sides, usage)
			rec.Release()
			if err != nil {
				r.emit(ctx, event{kind: evFailed, group: g, err: err})
				return
			}
			r.emit(ctx, event{kind: evCommitted, group: g, commit: commit})
		}()
	case wire.OutcomeDropped:
		_ = m.Ack()
		r.result.Dropped++
		r.c.log.Warn("every row of the group was dropped", "run", r.opts.RunID, "group", g)
		wire.AddUsage(&r.result.Usage, o.Stats.Models)
		r.record(ctx, g, wire.GroupEnd{Status: wire.EndDropped, Usage: o.Stats.Models})
		return r.end(g)
	case wire.OutcomeFailed:
		_ = m.Ack()
		return r.genErr(g, fmt.Errorf("worker %s reported the group failed: %s", o.Worker, o.Err))
	case wire.OutcomeAborted:
		// A worker reports a group aborted only when the run's abort cancelled it (a stopping
		// worker hands its groups back): the run is being aborted, whichever message came first.
		_ = m.Ack()
		return &AbortedError{RunID: r.opts.RunID, Reason: o.AbortReason}
	}
	return nil
}

// exhaustedGroup reads a max-deliveries advisory and reports whether it names one of this
// run's groups. A max-delivered message stays in the work queue, so its subject can be read.
func (r *run) exhaustedGroup(ctx context.Context, advisory []byte) (int, uint64, bool) {
	a, err := wire.DecodeMaxDeliveries(advisory)
	if err != nil {
		r.c.log.Warn("ignored an advisory", "err", err)
		return 0, 0, false
	}
	stream, err := r.c.js.Stream(ctx, r.c.layout.GroupsStream())
	if err != nil {
		return 0, 0, false
	}
	msg, err := stream.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		return 0, 0, false
	}
	subj, err := r.c.layout.ParseSubject("groups", msg.Subject)
	if err != nil || subj.Run != r.opts.RunID {
		return 0, 0, false
	}
	g, err := wire.GroupIndex(subj.ID)
	return g, a.Deliveries, err == nil
}

// checkGate feeds a group's task results to the early-shutdown gate. When it trips, the run
// fails — or, with AllowPartial, stops early (stop is true and the group is not written).
func (r *run) checkGate(ctx context.Context, stats *wire.GroupStats) (stop bool, err error) {
	if r.gate == nil {
		return false, nil
	}
	ok, failed := 0, 0
	for _, c := range stats.Columns {
		ok += c.Generated
		failed += c.Failed
	}
	if !r.gate.record(ok, failed) {
		return false, nil
	}
	trip := &EarlyShutdownError{Rate: r.opts.ShutdownErrorRate, Window: len(r.gate.window), Errors: r.gate.errs}
	if !r.opts.AllowPartial {
		return true, trip
	}
	r.beginPartial(ctx, trip)
	return true, nil
}

// beginPartial stops a run early but keeps it: no group is admitted or written any more, the
// workers drop what they hold, and the loop finalizes once the writes in progress are committed.
func (r *run) beginPartial(ctx context.Context, cause error) {
	r.c.log.Warn("stopping early, keeping the committed groups", "run", r.opts.RunID, "cause", cause)
	r.partial = true
	r.stopAdmission()
	for g := range r.active {
		if r.active[g].outcome == nil { // not being written: it will not be
			delete(r.active, g)
		}
	}
	if err := r.setState(ctx, wire.RunAborting, cause.Error()); err != nil {
		r.c.log.Warn("could not record the run's state", "err", err)
	}
	r.broadcastAbort(cause)
	r.purgeQueued(ctx)
}

// finish finalizes a completed group — config column order, POST_BATCH — and hands it to the
// sink with its side outputs.
func (r *run) finish(ctx context.Context, g int, rec arrow.RecordBatch, sides []processors.SideOutput, usage map[string]wire.ModelUsage) (wire.Commit, error) {
	f, err := r.ordered(rec)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("group %d: %w", g, err)
	}
	f, post, err := r.stage(ctx, r.post, g, f)
	if err != nil {
		return wire.Commit{}, err
	}
	group := Group{Index: g, Main: f.ToRecord(nil)}
	defer group.Main.Release()
	merged, err := mergeSides(append(sides, post...))
	if err != nil {
		return wire.Commit{}, fmt.Errorf("group %d: %w", g, err)
	}
	for _, s := range merged {
		rec := s.Frame.ToRecord(nil)
		defer rec.Release()
		group.Sides = append(group.Sides, Side{Dir: s.Dir, Rec: rec})
	}
	commit, err := r.sink.WriteGroup(ctx, group)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("sink: %w", err)
	}
	r.record(ctx, g, wire.GroupEnd{Status: wire.EndCommitted, Commit: &commit, Usage: usage})
	return commit, nil
}

// ordered returns a worker's output in the config's column order: workers finish columns in any
// order. A worker running another config must not slip a wrong dataset into the sink, so a
// missing column is an error.
func (r *run) ordered(rec arrow.RecordBatch) (*frame.Frame, error) {
	f, err := frame.FromRecord(rec)
	if err != nil {
		return nil, err
	}
	names := r.cfg.OutputColumns()
	for _, name := range names {
		if f.Column(name) == nil {
			return nil, fmt.Errorf("worker output lacks column %q", name)
		}
	}
	return f.Select(names), nil
}

// mergeSides joins side outputs that go to the same folder (two drop_columns processors both
// preserving what they dropped) into one file per group.
func mergeSides(sides []processors.SideOutput) ([]processors.SideOutput, error) {
	var out []processors.SideOutput
	index := map[string]int{}
	for _, s := range sides {
		i, ok := index[s.Dir]
		if !ok {
			index[s.Dir] = len(out)
			out = append(out, processors.SideOutput{Dir: s.Dir, Frame: s.Frame.Select(columnNames(s.Frame))})
			continue
		}
		if out[i].Frame.Len() != s.Frame.Len() {
			return nil, fmt.Errorf("side outputs for %s have %d and %d rows", s.Dir, out[i].Frame.Len(), s.Frame.Len())
		}
		for _, c := range s.Frame.Columns() {
			if err := out[i].Frame.Put(c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func columnNames(f *frame.Frame) []string {
	names := make([]string, len(f.Columns()))
	for i, c := range f.Columns() {
		names[i] = c.Name
	}
	return names
}

func (r *run) term(m jetstream.Msg, reason string) {
	r.c.log.Warn("terminated a message", "subject", m.Subject(), "reason", reason)
	_ = m.TermWithReason(reason)
}

// finalize writes the metadata, the run's last write, and marks the run completed.
func (r *run) finalize(ctx context.Context) error {
	slices.SortFunc(r.result.Commits, func(a, b wire.Commit) int { return a.Group - b.Group })
	key := "parquet-files"
	if r.opts.Mode == wire.ModePreview {
		key = "preview"
	}
	files := map[string][]string{key: {}}
	for _, c := range r.result.Commits {
		files[key] = append(files[key], c.Path)
		for dir, path := range c.Sides {
			files[dir] = append(files[dir], path)
		}
	}
	meta := wire.Metadata{
		TargetNumRecords: r.opts.NumRecords, ActualNumRecords: r.result.Rows,
		TotalNumBatches: len(r.result.Commits), BufferSize: r.opts.BufferSize,
		DatasetName: r.opts.DatasetName, FilePaths: files,
		ConfigHash: r.cfg.Hash(), RunID: r.opts.RunID, Seed: r.opts.Seed,
		Outcome: wire.RunCompleted, BuilderConfig: r.cfg.JSON(), ModelUsage: r.result.Usage,
	}
	if r.partial {
		meta.Outcome = wire.RunPartial
	}
	if err := r.sink.Finalize(ctx, meta); err != nil {
		return r.genErr(-1, fmt.Errorf("sink finalize: %w", err))
	}
	r.result.Metadata = &meta
	r.result.Status = meta.Outcome
	if err := r.setState(ctx, meta.Outcome, ""); err != nil {
		r.c.log.Warn("could not mark the run completed", "run", r.opts.RunID, "err", err)
	}
	r.cleanup(ctx)
	r.c.log.Info("run completed", "run", r.opts.RunID, "rows", r.result.Rows, "groups", len(r.result.Commits),
		"dropped_groups", r.result.Dropped)
	return nil
}

// shutdown ends a failed or aborted run: the run's state says so (workers check it before
// starting a group), the broadcast cancels groups in flight, queued groups are purged, and the
// sink discards what it had half-written. It runs on its own deadline: the run's context may be
// the thing that was cancelled.
func (r *run) shutdown(cause error, state wire.RunState) {
	ctx, cancel := context.WithTimeout(context.Background(), r.c.abortWait)
	defer cancel()
	log := r.c.log.With("run", r.opts.RunID)
	log.Warn("stopping run", "state", state, "cause", cause)
	if err := r.setState(ctx, state, cause.Error()); err != nil {
		log.Warn("could not record the run's state", "err", err)
	}
	r.broadcastAbort(cause)
	r.purgeQueued(ctx)
	r.awaitDrain(ctx)
	if err := r.sink.Discard(ctx); err != nil {
		log.Warn("sink could not discard partial output", "err", err)
	}
	r.cleanup(ctx)
}

// awaitDrain returns once no live worker lists a group of the run in flight in rf_workers:
// every generator call the run started has observed its cancellation (or its worker is gone —
// its entry expired). Workers list a group before they check the run's state, and the state
// says aborting before this is called, so no group can start unseen. It gives up, loudly, at
// ctx's deadline.
func (r *run) awaitDrain(ctx context.Context) {
	watch, err := r.c.res.Workers.WatchAll(ctx, jetstream.UpdatesOnly())
	if err == nil {
		defer func() { _ = watch.Stop() }()
	}
	recheck := time.NewTicker(time.Second) // an entry that expires sends no update
	defer recheck.Stop()
	for {
		busy, err := r.inFlight(ctx)
		if err == nil && len(busy) == 0 {
			return
		}
		if len(busy) > 0 && r.c.drainWaiting != nil {
			r.c.drainWaiting(busy)
		}
		var updates <-chan jetstream.KeyValueEntry
		if watch != nil {
			updates = watch.Updates()
		}
		select {
		case <-ctx.Done():
			r.c.log.Error("workers did not drain the run in time", "run", r.opts.RunID, "in_flight", busy, "err", err)
			return
		case <-updates:
		case <-recheck.C:
		}
	}
}

// inFlight lists, by worker, the groups of the run that live workers hold.
func (r *run) inFlight(ctx context.Context) (map[string][]int, error) {
	keys, err := r.c.res.Workers.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	busy := map[string][]int{}
	for key := range keys.Keys() {
		e, err := r.c.res.Workers.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		w, err := wire.DecodeWorkerRecord(e.Value())
		if err != nil {
			continue // not a worker's record: nothing to wait for
		}
		if groups := w.InFlight[r.opts.RunID]; len(groups) > 0 {
			busy[w.ID] = groups
		}
	}
	return busy, nil
}

// broadcastAbort tells the workers to cancel the run's groups in flight.
func (r *run) broadcastAbort(cause error) {
	body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: cause.Error()})
	if err := r.c.nc.Publish(r.c.layout.ControlSubject(r.opts.RunID), body); err != nil {
		r.c.log.Warn("could not broadcast the abort", "run", r.opts.RunID, "err", err)
	}
}

// purgeQueued removes the run's groups that no worker has taken yet.
func (r *run) purgeQueued(ctx context.Context) {
	stream, err := r.c.js.Stream(ctx, r.c.layout.GroupsStream())
	if err == nil {
		err = stream.Purge(ctx, jetstream.WithPurgeSubject(r.c.layout.GroupsOfRun(r.opts.RunID)))
	}
	if err != nil {
		r.c.log.Warn("could not purge queued groups", "run", r.opts.RunID, "err", err)
	}
}

// cleanup removes what the run kept on the broker: its outcome consumer, its ledger and any
// offloaded body a consumer did not delete.
func (r *run) cleanup(ctx context.Context) {
	if err := r.c.layout.PurgeLedger(ctx, r.c.js, r.opts.RunID); err != nil {
		r.c.log.Debug("could not purge the ledger", "err", err)
	}
	if err := r.c.layout.PurgeCells(ctx, r.c.js, r.opts.RunID, -1); err != nil {
		r.c.log.Debug("could not purge the run's kept cells", "err", err)
	}
	if err := r.c.layout.PurgeSeats(ctx, r.c.js, r.opts.RunID); err != nil {
		r.c.log.Debug("could not free the run's model seats", "err", err)
	}
	if err := wire.DeleteRunPayloads(ctx, r.c.res.Payloads, r.opts.RunID); err != nil {
		r.c.log.Debug("could not delete offloaded bodies", "err", err)
	}
	if err := r.c.js.DeleteConsumer(ctx, r.c.layout.OutcomesStream(), wire.RunConsumer(r.opts.RunID)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.c.log.Debug("could not delete the outcome consumer", "err", err)
	}
}

func (r *run) setState(ctx context.Context, state wire.RunState, reason string) error {
	return r.update(ctx, func(rec *wire.RunRecord) {
		rec.State, rec.Reason = state, reason
	})
}

// update changes the run's record with compare-and-swap, so that the controller's writes
// (progress, its own state) never undo another's (an operator's `controller abort`). A resumed
// controller has taken the run over when the record's epoch is no longer this one's: then
// nothing is written and the error is a *SupersededError.
func (r *run) update(ctx context.Context, change func(*wire.RunRecord)) error {
	_, err := r.c.runs.Update(ctx, r.opts.RunID, func(rec *wire.RunRecord) error {
		if rec.Epoch != r.epoch {
			return &SupersededError{RunID: r.opts.RunID, Epoch: rec.Epoch, Mine: r.epoch}
		}
		change(rec)
		return nil
	})
	return err
}

func (r *run) genErr(g int, err error) error {
	var ge *DatasetGenerationError
	if errors.As(err, &ge) || errors.Is(err, ErrAborted) {
		return err
	}
	return &DatasetGenerationError{RunID: r.opts.RunID, Group: g, Err: err}
}
