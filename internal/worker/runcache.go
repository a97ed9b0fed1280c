package worker

import (
	"context"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/tools"
	"github.com/rowforge/rowforge/pkg/wire"
)

// runEntry is a compiled run: what every group of the run shares on this worker.
type runEntry struct {
	rec   *wire.RunRecord
	sched *scheduler.Scheduler
	pool  *llm.Pool       // the run's models; nil without LLM columns
	tools *tools.Registry // the run's MCP sessions; nil without tool configs
	seats []*seats        // this worker's seats of each model of pool
	err   error           // the run's config does not compile here: its groups fail
	// lastRank is the rank the run's last groups share (see rank).
	lastRank int
}

// rank is group g's rank in the lines for the run's seats (llm.WithGroup): its index, so that
// groups finish, and commit, in turn — but the run's last groups share one rank, and so the
// seats column by column. Served one after another, they would end the run with the last
// group's rows alone in progress, fewer than the seats, for as many replies as its chain is
// long: in a model of the 300-row shape at cap 256, 0.59 of the seats used over the
// run, and 0.94, the most the shape allows, with the shared rank.
func (e *runEntry) rank(g int) int { return min(g, e.lastRank) }

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
	e := w.compileEntry(id, rec)
	if len(w.runs) > maxRuns {
		evicted = w.evictIdle()
	}
	w.runs[id] = e
	return e, nil
}

// maxRuns is how many compiled runs the cache holds before it drops the idle ones: a
// long-lived worker sees many runs.
const maxRuns = 64

// evictIdle drops from the cache the runs with no group in flight here (their tools are not in
// use) and returns them for closeRuns. w.mu is held.
func (w *Worker) evictIdle() []*runEntry {
	var evicted []*runEntry
	for rid, old := range w.runs {
		if len(w.inflight[rid]) == 0 {
			delete(w.runs, rid)
			w.board.forget(rid)
			evicted = append(evicted, old)
		}
	}
	return evicted
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
