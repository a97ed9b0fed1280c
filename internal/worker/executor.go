package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// handle is the executor: it runs one prepared group and settles its message. It reads as
// parse → look up the run → run the group → decide → carry out; every message leaves through
// settle, which also counts it.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	w.opts.Metrics.GroupStarted()
	gm := groupMsg{m: m, log: w.log}
	if ctx.Err() != nil { // a fetch that ran on after the stop: another worker takes it
		w.settle(ctx, gm, handBackAfter(jsx.FetchWait, slog.LevelDebug, "handing back a group fetched after the stop", nil))
		return
	}
	subj, err := w.layout.ParseSubject("groups", m.Subject())
	if err == nil {
		gm.index, err = wire.GroupIndex(subj.ID)
	}
	if err != nil {
		a := terminateFor(err.Error())
		a.fault = metrics.ErrMalformedMessage
		w.settle(ctx, gm, a)
		return
	}
	gm.run, gm.log = subj.Run, w.log.With("run", subj.Run, "group", gm.index)
	reconnects := w.nc.Stats().Reconnects // see decide: a failed group is handed back if this changes
	w.hold(ctx, gm, func(gctx context.Context) action {
		entry, a, ok := w.lookup(ctx, gm.run)
		if !ok {
			return a
		}
		return w.execute(ctx, gctx, gm, entry, reconnects)
	})
}

// hold lists group gm in flight, runs it under a context an abort broadcast cancels, and settles
// its message before listing it gone. The group is listed in rf_workers before the run's state
// is read, and an abort recorded after that read reaches it by the broadcast: so a controller
// that aborts either sees the group in flight here and waits for it, or this worker sees the
// abort and does not start.
//
// hold is also where a panic in the group's handling stops: the pull slot's goroutine runs
// nothing of the group outside it (the subject's parsing before it is fuzzed wire code), and
// a panic that reached jsx.PullGated would end the process and every other group in it. It
// recovers here, not deeper, so that one place covers the run's compilation, the prepared
// group's decoding, the kept cells' read, the outcome's encoding and publication, and the
// executor's own code (the scheduler recovers what it runs itself: see scheduler.PanicError),
// and not higher, so that the group is still listed in flight while it is settled. See panicked
// for how such a group is settled.
func (w *Worker) hold(ctx context.Context, gm groupMsg, run func(gctx context.Context) action) {
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.track(gm.run, gm.index, cancel)
	w.publishRecord(ctx)
	w.poke() // room for another group, perhaps: the ramp doubles per round trip, not per tick
	defer func() {
		w.untrack(gm.run, gm.index)
		w.publishRecord(context.WithoutCancel(ctx))
		w.poke() // its seats may go to others, or another group may fit
	}()
	decided := false // run returned: a panic after is settle's own, which may have acked already
	defer func() {
		if p := recover(); p != nil {
			w.panicked(ctx, gm, scheduler.NewPanicError("worker", p), decided)
		}
	}()
	a := run(gctx)
	decided = true
	w.settle(ctx, gm, a)
}

// lookup returns the compiled run, or, when its groups cannot be worked on, how to settle the
// message: terminated for a run that is unknown or no longer running, handed back when its
// record cannot be read.
func (w *Worker) lookup(ctx context.Context, run string) (*runEntry, action, bool) {
	entry, err := w.run(ctx, run)
	switch {
	case errors.Is(err, runstore.ErrNotFound):
		return nil, terminateFor(fmt.Sprintf("unknown run %s", run)), false
	case err != nil:
		a := handBackAfter(time.Second, slog.LevelWarn, "cannot read the run record; handing the group back", err)
		a.fault = metrics.ErrRunRecord
		return nil, a, false
	case !entry.rec.Active():
		return nil, terminateFor(fmt.Sprintf("run %s is %s", run, entry.rec.State)), false
	}
	return entry, action{}, true
}

// execute runs the group on the run's scheduler, decides, and publishes the outcome when that
// is the decision; it returns how to settle the message. ctx is the worker's, gctx the group's.
func (w *Worker) execute(ctx, gctx context.Context, gm groupMsg, entry *runEntry, reconnects uint64) (a action) {
	stopBeat := w.heartbeat(gctx, gm.m)
	defer stopBeat()
	w.claimSeats(ctx, gm.run, entry)
	// The group's cells count in the run's progress as they are made; a group handed back
	// takes them off again (another worker makes them).
	tally := w.prog.Counter(gm.run).Group()
	defer func() { w.endTally(gm.run, tally, a.verb == handBack) }()
	usage := &llm.Usage{}
	// The older group's requests take the seats first: groups finish, and commit, in turn,
	// while the younger ones use what the older cannot (see runEntry.rank for the run's end).
	// Within the group, the cell with the longest chain still waiting on it goes first (see
	// cellContext).
	out, err := w.generate(llm.WithGroup(llm.WithUsage(gctx, usage), entry.rank(gm.index), gm.index), entry, gm.m, gm.run, gm.index, tally)
	if err != nil { // the message itself is bad: no worker will do better
		a = terminateFor(err.Error())
		a.fault = metrics.ErrMalformedMessage
		return a
	}
	a = decide(out, ctx.Err() != nil, w.nc.Stats().Reconnects != reconnects)
	if a.verb == handBack {
		if a.err == nil { // the worker is stopping: say what cancelled the group
			a.err = context.Cause(gctx)
		}
		return a
	}
	// The run's counts on this worker are final until its next group: they go before the
	// outcome, so that the controller has them when the run ends.
	countUnreached(tally, out)
	if tally.End() {
		w.prog.Flush(gm.run)
	}
	if err := w.publishOutcome(ctx, gm.m, gm.run, gm.index, out, usage.Snapshot()); err != nil {
		a = handBackAfter(time.Second, slog.LevelWarn, "could not publish the outcome; handing the group back", err)
		a.fault = metrics.ErrPublish
	}
	return a
}

// endTally ends the group's progress tally, if the outcome did not already, and takes its cells
// off again when it is handed back; the run's counts are flushed when this was the run's last
// group here, or when they went down.
func (w *Worker) endTally(run string, tally *progress.Group, handedBack bool) {
	flush := tally.End()
	if handedBack {
		tally.Discard()
		flush = true
	}
	if flush {
		w.prog.Flush(run)
	}
}

// claimSeats claims the run's seats now when this is its first group here, rather than at the
// balancing loop's next tick.
func (w *Worker) claimSeats(ctx context.Context, run string, entry *runEntry) {
	for _, s := range entry.seats {
		if s.count() == 0 {
			w.adjustSeats(ctx, run)
			return
		}
	}
}

// generate decodes the prepared group and runs the scheduler on it. An error means the message
// is malformed; generation failures are in the outcome.
func (w *Worker) generate(ctx context.Context, entry *runEntry, m jetstream.Msg, run string, g int, tally *progress.Group) (scheduler.Outcome, error) {
	if entry.err != nil {
		return scheduler.Outcome{Status: scheduler.Failed, Err: entry.err}, nil
	}
	body, err := broker.Body(ctx, w.res.Payloads, m)
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
