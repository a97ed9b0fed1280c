package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/metrics"
	"github.com/rowforge/rowforge/pkg/progress"
	"github.com/rowforge/rowforge/pkg/scheduler"
	"github.com/rowforge/rowforge/pkg/wire"
)

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

func (w *Worker) term(m jetstream.Msg, reason string) { jsx.Term(w.log, m, reason) }
