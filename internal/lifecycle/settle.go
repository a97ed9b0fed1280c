package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The steps of settle, in their order. A test hook (Controller.settleStep) sees each by name.
const (
	stepLedger = "ledger" // the group's end is in the ledger
	stepAck    = "ack"    // its outcome is acked and its offloaded body deleted
	stepResult = "result" // its usage, rows and commit are counted in the run's result
	stepEnd    = "end"    // its slot, claim and progress are released and recorded
)

// settle ends group g, whichever way it ended — committed by the sink, dropped by a worker, or
// left empty by PRE_BATCH — in one order fixed here:
//
//  1. the ledger records the end, so that a resume does not generate the group again;
//  2. the outcome (nil when there is none) is acked and its offloaded body deleted: only now,
//     since an outcome acked before the ledger write is lost to a resume that then generates
//     the group again;
//  3. the run's result counts the group's usage, rows and commit;
//  4. end releases the group's slot and claim and records the progress.
//
// A committed group reaches settle only once the sink has committed it (evCommitted), so the
// ledger never says committed before the commit is durable. settle runs on the loop.
func (r *run) settle(ctx context.Context, g int, end wire.GroupEnd, outcome jetstream.Msg) error {
	r.record(ctx, g, end)
	if err := r.step(g, stepLedger); err != nil {
		return err
	}
	if outcome != nil {
		if err := outcome.Ack(); err != nil {
			r.c.log.Debug("ack of a settled outcome failed; it will be redelivered and ignored", "group", g, "err", err)
		}
		broker.DeleteOffloaded(ctx, r.c.res.Payloads, outcome)
	}
	if err := r.step(g, stepAck); err != nil {
		return err
	}
	r.result.count(end)
	if err := r.step(g, stepResult); err != nil {
		return err
	}
	if err := r.end(g); err != nil {
		return err
	}
	return r.step(g, stepEnd)
}

// count adds a group's end to the result: its usage, and its rows and commit or that it was
// dropped. A group settled and a group a resumed run finds in the ledger count the same way.
func (res *Result) count(end wire.GroupEnd) {
	wire.AddUsage(&res.Usage, end.Usage)
	switch end.Status {
	case wire.EndDropped:
		res.Dropped++
	case wire.EndCommitted:
		res.Rows += end.Commit.Rows
		res.Commits = append(res.Commits, *end.Commit)
	}
}

// step tells the test hook, if any, that group g passed a step of settle; the hook's error
// (errStop: kill -9 here) stops the run.
func (r *run) step(g int, name string) error {
	if r.c.settleStep == nil {
		return nil
	}
	return r.c.settleStep(g, name)
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

// end retires a group and frees its admission slot. It fails only when another controller has
// taken the run over.
func (r *run) end(g int) error {
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
