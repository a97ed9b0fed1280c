package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Controller runs datasets over one JetStream deployment. It is safe for sequential and
// concurrent Runs; each Run owns its goroutines and stops them before returning.
type Controller struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	layout    wire.Layout
	res       *broker.Resources
	runs      *runstore.Store
	pub       *broker.Publisher
	log       *slog.Logger
	progress  func(Progress)
	abortWait time.Duration
	// drainWaiting is called when an abort waits on workers that still hold groups of the run;
	// nil outside tests (export_test.go sets it), where it proves the controller waits.
	drainWaiting func(busy map[string][]int)
	// settleStep is called after each step of settling a group (see settle) with the step's
	// name; nil outside tests (export_test.go sets it). Returning errStop stops the run on the
	// spot, as kill -9 would: no shutdown, no cleanup, its state left on the broker for a resume.
	settleStep func(g int, step string) error
}

// New returns a controller using nc. It does not take ownership of nc.
func New(nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *broker.Resources, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{nc: nc, js: js, layout: layout, res: res, runs: runstore.New(res.Runs), log: log,
		pub: broker.NewPublisher(js, res.Payloads, nc.MaxPayload()), abortWait: time.Minute}
}

// OnProgress sets a callback called from the run's loop after each group ends; it must not block.
func (c *Controller) OnProgress(fn func(Progress)) { c.progress = fn }

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
	ends, err := broker.ReadLedger(ctx, c.res.Commits, runID)
	if err != nil {
		return nil, r.genErr(-1, err)
	}
	if err := r.fromLedger(ends); err != nil {
		return nil, err
	}
	// The stopped controller's groups still queued are prepared again under this epoch's ids.
	r.purgeQueued(ctx)
	c.log.Info("run resumed", "run", runID, "epoch", r.epoch, "groups", r.plan.Groups(), "groups_done", r.nEnded,
		"rows", r.result.Rows)
	return r.execute(ctx)
}

// fromLedger takes in the groups a resumed run's ledger holds: they ended before, so admission
// skips them, and they count in the result as they did when they settled.
func (r *run) fromLedger(ends map[int]*wire.GroupEnd) error {
	for g, e := range ends {
		if g >= r.plan.Groups() {
			return r.genErr(g, fmt.Errorf("the ledger names group %d of a run of %d groups", g, r.plan.Groups()))
		}
		r.ended[g], r.endedBefore[g] = true, true
		r.nEnded++
		r.result.count(*e)
	}
	r.result.Resumed = len(ends)
	return nil
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
