package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/persons"
	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

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
	outcome jetstream.Msg           // held unacked until the group is settled (see settle)
	sides   []processors.SideOutput // from PRE_BATCH
	usage   map[string]wire.ModelUsage
}

// run is the state of one run of a controller. Its fields are grouped by the goroutine that
// owns them: the loop (one event at a time, so without locks), the admission goroutine, or
// nobody once the run starts.
type run struct {
	// Set up by newRun (and Resume) before the loop starts, read-only after: any goroutine of
	// the run may read them.
	c        *Controller
	cfg      *config.Config
	opts     Options
	plan     Plan
	sink     Sink // written by the finish goroutines, finalized or discarded by the loop
	seedInfo *wire.SeedInfo
	post     []processors.Processor // POST_BATCH, in config order; run by the finish goroutines
	// endedBefore marks the groups a resumed run found in the ledger, which admission skips
	// (r.ended is the loop's).
	endedBefore []bool
	// epoch is the run record's epoch this controller owns the run under (see wire.RunRecord).
	epoch int

	// Owned by the admission goroutine (admit, prepare, publish).
	samplers *generators.Samplers   // draw each group's sampler columns (with the config's constraints)
	seedRows *seeddata.Reader       // each group's seed dataset rows; nil without a seed_config
	pre      []processors.Processor // PRE_BATCH, in config order

	// Shared, each safe for concurrent use.
	events chan event    // every goroutine of the run to the loop
	slots  chan struct{} // the admission window: admission fills a slot, the loop's end frees it
	// claims are the groups workers took: admission awaits them, the loop marks ended groups.
	// Set by the loop before admission starts; nil: admission does not wait for them.
	claims *claims
	wg     sync.WaitGroup // admission, the claims watch and the finish goroutines
	// stopAdmission is set by the loop before admission starts; the loop calls it (beginPartial).
	stopAdmission context.CancelFunc

	// Owned by the loop goroutine (handle, outcome, settle, finalize); Resume fills ended,
	// nEnded and result before the loop starts.
	active map[int]*groupState
	ended  []bool // per group: committed or dropped (one bit's worth per group)
	nEnded int
	result Result
	gate   *errorGate // nil when early shutdown is disabled
	// partial is set when the gate tripped under AllowPartial: nothing more is admitted or
	// written, and the run finalizes once the writes in progress (writes) are committed.
	partial bool
	writes  int
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
func (r *run) loop(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	var stops []func() // what was started, stopped in this order
	// One ordered teardown: cancel first, so that a consume callback or a sink writer blocked
	// handing an event to this loop returns, then wait for each of them.
	defer func() {
		cancel(errors.New("run loop ended"))
		for _, stop := range stops {
			stop()
		}
		r.wg.Wait() // admission and sink writers
	}()

	cc, err := r.consumeOutcomes(ctx)
	if err != nil {
		return err
	}
	stops = append(stops, func() { cc.Stop(); <-cc.Closed() })
	for _, s := range []struct {
		what, subject string
		handler       nats.MsgHandler
	}{
		{"control", r.c.layout.ControlSubject(r.opts.RunID), r.onControl(ctx)},
		{"advisories", r.c.layout.MaxDeliveriesSubject(), r.onMaxDeliveries(ctx)},
	} {
		sub, err := r.c.nc.Subscribe(s.subject, s.handler)
		if err != nil {
			return r.genErr(-1, fmt.Errorf("subscribe %s: %w", s.what, err))
		}
		stops = append(stops, func() { _ = sub.Unsubscribe() })
	}

	actx, stopAdmission := context.WithCancel(ctx)
	defer stopAdmission()
	r.startAdmission(actx, stopAdmission)
	if err := r.drive(parent, ctx); err != nil {
		return err
	}
	if r.partial { // stopping early is terminal too: nothing of the run may still be running
		dctx, cancel := context.WithTimeout(ctx, r.c.abortWait)
		r.awaitDrain(dctx)
		cancel()
	}
	return r.finalize(ctx)
}

// consumeOutcomes starts the run's outcome consumer, which hands each outcome to the loop.
func (r *run) consumeOutcomes(ctx context.Context) (jetstream.ConsumeContext, error) {
	// A consumer left by a controller that stopped holds its outcomes unacked until their
	// AckWait: a new one delivers every outcome still in the stream now.
	if err := r.c.js.DeleteConsumer(ctx, r.c.layout.OutcomesStream(), wire.RunConsumer(r.opts.RunID)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, r.genErr(-1, fmt.Errorf("outcome consumer: %w", err))
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
		return nil, r.genErr(-1, fmt.Errorf("outcome consumer: %w", err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { r.emit(ctx, event{kind: evOutcome, msg: m}) },
		jetstream.PullMaxMessages(2*r.opts.MaxConcurrentRowGroups))
	if err != nil {
		return nil, r.genErr(-1, fmt.Errorf("consume outcomes: %w", err))
	}
	return cc, nil
}

// onControl handles the run's control subject: an abort message aborts the run.
func (r *run) onControl(ctx context.Context) nats.MsgHandler {
	return func(m *nats.Msg) {
		ctl, err := wire.DecodeControl(m.Data)
		if err != nil {
			r.c.log.Warn("ignored control message", "run", r.opts.RunID, "err", err)
			return
		}
		r.emit(ctx, event{kind: evAbort, err: &AbortedError{RunID: r.opts.RunID, Reason: ctl.Reason}})
	}
}

// startAdmission starts the admission goroutine and, when the workers' records can be
// followed, the claims it waits on. ctx is admission's own: stop cancels it (beginPartial).
func (r *run) startAdmission(ctx context.Context, stop context.CancelFunc) {
	r.stopAdmission = stop
	claims := newClaims(r.opts.RunID)
	if stopClaims, err := claims.watch(ctx, r.c.nc, r.c.res.Workers); err != nil {
		r.c.log.Warn("cannot follow the workers' groups; admitting the whole window at once", "run", r.opts.RunID, "err", err)
	} else {
		r.claims = claims
		r.wg.Go(func() { <-ctx.Done(); stopClaims() })
	}
	r.wg.Add(1)
	go r.admit(ctx)
}

// drive handles events until every group has ended, or, stopping early, until the writes in
// progress are committed. Cancelling parent (the caller's context) aborts the run.
func (r *run) drive(parent, ctx context.Context) error {
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
	return nil
}

// emit hands an event to the loop, or drops it once the run is over.
func (r *run) emit(ctx context.Context, ev event) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// handle applies one event to the run's state, on the loop. A group ends only through settle:
// here when PRE_BATCH left it empty or the sink committed it, in outcome when the workers
// dropped it.
func (r *run) handle(ctx context.Context, ev event) error {
	switch ev.kind {
	case evAdmitted:
		if r.partial {
			return nil
		}
		r.active[ev.group] = &groupState{sides: ev.sides}
		if ev.empty { // nothing was published: no outcome will come
			return r.settle(ctx, ev.group, wire.GroupEnd{Status: wire.EndDropped}, nil)
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
		commit := ev.commit
		return r.settle(ctx, ev.group, wire.GroupEnd{Status: wire.EndCommitted, Commit: &commit, Usage: st.usage}, st.outcome)
	case evOutcome:
		return r.outcome(ctx, ev.msg)
	}
	return nil
}

func (r *run) term(m jetstream.Msg, reason string) {
	r.c.log.Warn("terminated a message", "subject", m.Subject(), "reason", reason)
	_ = m.TermWithReason(reason)
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
