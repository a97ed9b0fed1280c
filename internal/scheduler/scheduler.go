package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Status is the explicit outcome of one row group.
type Status string

const (
	Completed Status = "completed" // at least one row survived every column
	Dropped   Status = "dropped"   // every row was dropped; nothing to write
	Failed    Status = "failed"    // a fatal error; the run cannot go on
	Aborted   Status = "aborted"   // cancelled before it finished
)

// ColumnStats counts what happened to one column's tasks. Failed counts rows the column dropped.
type ColumnStats struct {
	Generated int `json:"generated"`
	Failed    int `json:"failed"`
	Retried   int `json:"retried"`
	Skipped   int `json:"skipped,omitempty"`
}

// Outcome is what Run returns for a group. Frame holds the surviving rows when Status is
// Completed; Err says why when it is Failed or Aborted.
type Outcome struct {
	Status  Status
	Frame   *frame.Frame
	Rows    int // surviving rows
	Dropped int
	Columns map[string]ColumnStats
	Err     error
}

// Options bound the scheduler's work.
type Options struct {
	// Concurrency is the most generator calls in flight at once (default 16).
	Concurrency int
	// MaxAttempts is how often a cell whose error is Retryable is tried before its row is
	// dropped (default 3).
	MaxAttempts int
	// TaskContext, when set, derives the context of each generator call from the group's. The
	// scheduler starts the tasks with the longest chain still waiting on them first (see
	// Graph.Height); the worker passes a task's height and row on to the model limiters, so that
	// requests waiting for a model are served in that order too, after the group's rank.
	TaskContext func(ctx context.Context, task Task, height int) context.Context
}

func (o *Options) setDefaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
}

// Retryable is implemented by generator errors worth another attempt (rate limits, timeouts).
type Retryable interface{ Retryable() bool }

func isRetryable(err error) bool {
	var r Retryable
	return errors.As(err, &r) && r.Retryable()
}

// Scheduler runs row groups over one Graph. It holds no per-group state, so one Scheduler
// serves any number of concurrent Run calls.
type Scheduler struct {
	graph *Graph
	opts  Options
}

// New returns a scheduler for g.
func New(g *Graph, opts Options) *Scheduler {
	opts.setDefaults()
	return &Scheduler{graph: g, opts: opts}
}

type result struct {
	task     Task
	skipped  []int         // rows of a column task that were skipped, not generated
	value    any           // cell result
	col      *frame.Column // column result
	rowErrs  map[int]error
	err      error
	attempts int
}

// Cells carries cell-by-cell results across deliveries of a group: what an earlier delivery
// finished is not generated again, and what this one finishes is kept as it finishes. Cell
// values are what the column's generator returned (a cell whose row was later dropped may be
// among them; it is not used).
type Cells struct {
	// Done holds cells already generated, by column and row.
	Done map[string]map[int]any
	// Keep, when set, is called with each cell a generator returns successfully, from the
	// goroutine that ran it, before the scheduler takes the value: a worker that dies after Keep
	// returned loses nothing of that cell.
	Keep func(ctx context.Context, column string, row int, value any)
	// Progress, when set, is told of each result as the scheduler folds it in: what it added
	// to its column's stats (Retried aside). It is called from the scheduler's loop, so it must
	// be quick; it feeds a progress display.
	Progress func(column string, added ColumnStats)
}

// Run generates every column of the group held in buf, whose seed columns are filled, and
// returns its outcome. It returns only after every generator call it started has returned: on
// cancellation or a fatal error the calls' context is cancelled and Run waits for them.
func (s *Scheduler) Run(ctx context.Context, buf *frame.Frame) Outcome {
	return s.RunCells(ctx, buf, Cells{})
}

// RunCells is Run resuming from cells.Done and keeping cells through cells.Keep.
//
// A panic in the group's own goroutine — a skip expression (config code that runs here, not in
// a generator call), a Progress callback, folding a result in — fails the group with a
// *PanicError, as one in a generator call does; RunCells still returns only after the calls it
// started: a caller that recovered the panic itself would go on while they still run, and
// write kept cells after the group was settled.
func (s *Scheduler) RunCells(ctx context.Context, buf *frame.Frame, cells Cells) (out Outcome) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	stats := map[string]ColumnStats{}
	var r *groupRun
	defer func() {
		if p := recover(); p != nil {
			err := NewPanicError("scheduler", p)
			if r != nil {
				r.cancel(err)
				r.drain()
			}
			out = Outcome{Status: Failed, Err: err, Columns: stats}
		}
	}()
	if err := s.prepare(buf, stats); err != nil {
		return Outcome{Status: Failed, Err: err, Columns: stats}
	}
	n := buf.Len()
	tr := NewTracker(s.graph, n)
	r = &groupRun{s: s, ctx: ctx, cancel: cancel, buf: buf, n: n, cells: cells, tr: tr,
		sk: newSkips(s.graph, n), stats: stats, queue: readyQueue{graph: s.graph},
		results: make(chan result, s.opts.Concurrency)} // never blocks: at most Concurrency in flight
	r.queue.push(tr.Roots())
	r.loop()
	return r.outcome()
}

// prepare gives every cell-by-cell column, and its side columns, an empty column to fill cell
// by cell, and checks the seeds are there, so that the dispatch loop can write and read any
// column it meets. stats gets each generator's entry as it goes: a failure reports the columns
// reached.
func (s *Scheduler) prepare(buf *frame.Frame, stats map[string]ColumnStats) error {
	n := buf.Len()
	for _, gen := range s.graph.gens {
		stats[gen.Name] = ColumnStats{}
		if gen.Strategy() == CellByCell {
			if err := buf.Put(frame.NewColumn(gen.Name, gen.Type, n)); err != nil {
				return err
			}
			for _, side := range gen.Side {
				if err := buf.Put(frame.NewColumn(side, frame.String, n)); err != nil {
					return err
				}
			}
		}
	}
	for _, seed := range s.graph.seedNames() {
		if buf.Column(seed) == nil {
			return fmt.Errorf("seed column %q missing from the prepared group", seed)
		}
	}
	return nil
}

// groupRun is one RunCells call's state. It lives apart from Scheduler, which serves
// concurrent calls, and is touched only by the call's own goroutine: generator goroutines see
// nothing of it but ctx and results.
type groupRun struct {
	s      *Scheduler
	ctx    context.Context
	cancel context.CancelCauseFunc
	buf    *frame.Frame
	n      int
	cells  Cells
	tr     *Tracker
	sk     *skips
	stats  map[string]ColumnStats

	queue    readyQueue
	results  chan result
	inflight int
	fatal    error
}

// loop alternates between starting what is ready and folding in one result, until nothing is
// in flight: after a fatal error or cancellation it only drains, so that RunCells returns
// after every generator call it started.
func (r *groupRun) loop() {
	for {
		r.fill()
		if r.inflight == 0 {
			return
		}
		r.collect()
	}
}

// fill starts queued tasks while there is room and the group goes on. The queue may still
// hold tasks of rows dropped after they were queued: they are discarded as they come up.
func (r *groupRun) fill() {
	for r.fatal == nil && r.ctx.Err() == nil && r.inflight < r.s.opts.Concurrency && r.queue.Len() > 0 {
		task, height := r.queue.pop()
		if task.Row >= 0 && r.tr.Dropped(task.Row) {
			continue
		}
		// Counted once started, so that a start that panics (a skip expression) leaves the
		// count exact for drain.
		if task.Row >= 0 {
			r.startCell(task, height)
		} else {
			r.startColumn(task, height)
		}
		r.inflight++
	}
}

// drain waits for the results of every call in flight and discards them: after a panic in the
// loop, so that RunCells still returns only once its calls have.
func (r *groupRun) drain() {
	for ; r.inflight > 0; r.inflight-- {
		<-r.results
	}
}

// startCell answers a cell from an earlier delivery or its skip rule when it can, so that only
// a cell that needs its generator costs a call; the answer goes through results like any
// other, so apply is the one place results are folded in.
func (r *groupRun) startCell(task Task, height int) {
	if v, ok := r.cells.Done[task.Column][task.Row]; ok {
		r.results <- result{task: task, value: v} // room: at most Concurrency in flight
		return
	}
	gen := r.s.graph.byName[task.Column]
	row := make(map[string]any, len(gen.Inputs))
	for _, in := range gen.Inputs {
		row[in] = r.buf.Column(in).Value(task.Row)
	}
	if r.sk.skip(gen, task.Row, row) {
		r.results <- result{task: task, skipped: []int{task.Row}}
		return
	}
	go r.s.runCell(r.callContext(task, height), gen, task, row, r.cells.Keep, r.results)
}

// startColumn runs a full-column generator over the live rows it does not skip.
func (r *groupRun) startColumn(task Task, height int) {
	gen := r.s.graph.byName[task.Column]
	live, skipped := r.sk.split(gen, r.buf, r.tr.LiveRows())
	if len(live) == 0 { // nothing to generate: no call, as in Data Designer
		r.results <- result{task: task, col: frame.NewColumn(gen.Name, gen.Type, r.n), skipped: skipped}
		return
	}
	go r.s.runColumn(r.callContext(task, height), gen, task, r.buf.Select(gen.Inputs), live, skipped, r.results)
}

// callContext is the context of task's generator call: the group's, through Options.TaskContext.
func (r *groupRun) callContext(task Task, height int) context.Context {
	if r.s.opts.TaskContext == nil {
		return r.ctx
	}
	return r.s.opts.TaskContext(r.ctx, task, height)
}

// collect waits for one result and folds it in, queueing what it made ready. A fatal result
// cancels the calls still in flight, whose results are then only counted off.
func (r *groupRun) collect() {
	res := <-r.results
	r.inflight--
	if r.fatal != nil || r.ctx.Err() != nil {
		return // draining: results of cancelled work are discarded
	}
	var ready []Task
	before := r.stats[res.task.Column]
	ready, r.fatal = r.s.apply(res, r.buf, r.tr, r.stats, r.sk)
	r.cells.progress(res.task.Column, before, r.stats[res.task.Column])
	if r.fatal != nil {
		r.cancel(r.fatal)
	}
	r.queue.push(ready)
}

// outcome decides the group's status once nothing is in flight. A fatal error wins over the
// cancellation it caused; a group with rows left but columns incomplete is a scheduler bug,
// not a result.
func (r *groupRun) outcome() Outcome {
	out := Outcome{Columns: r.stats, Rows: r.tr.Live(), Dropped: r.n - r.tr.Live()}
	switch {
	case r.fatal != nil:
		out.Status, out.Err = Failed, r.fatal
	case r.ctx.Err() != nil:
		out.Status, out.Err = Aborted, context.Cause(r.ctx)
	case r.tr.Live() == 0:
		out.Status = Dropped
	case !r.tr.Done():
		out.Status, out.Err = Failed, errors.New("scheduler stalled with columns incomplete (internal error)")
	default:
		keep := make([]bool, r.n)
		for _, row := range r.tr.LiveRows() {
			keep[row] = true
		}
		out.Status, out.Frame = Completed, r.buf.Filter(keep)
	}
	return out
}

// apply folds one result into the buffer and tracker. It returns the newly ready tasks, or a
// fatal error that ends the group.
func (s *Scheduler) apply(r result, buf *frame.Frame, tr *Tracker, stats map[string]ColumnStats, sk *skips) ([]Task, error) {
	st := stats[r.task.Column]
	defer func() { stats[r.task.Column] = st }()
	st.Retried += max(r.attempts-1, 0)

	var fe *FatalError
	if errors.As(r.err, &fe) {
		if ce, ok := errors.AsType[*ColumnError](r.err); ok && ce.Column == r.task.Column {
			return nil, r.err // the generator named its column already
		}
		return nil, &ColumnError{Column: r.task.Column, Err: r.err}
	}
	if r.task.Row >= 0 { // a cell
		if tr.Dropped(r.task.Row) {
			return nil, nil
		}
		gen := s.graph.byName[r.task.Column]
		if r.skipped != nil {
			if err := sk.mark(gen, buf, buf.Column(r.task.Column), r.task.Row); err != nil {
				return nil, err
			}
			st.Skipped++
			return tr.CellDone(r.task.Column, r.task.Row), nil
		}
		if r.err == nil {
			r.err = setCell(gen, buf, r.task.Row, r.value)
		}
		if r.err != nil {
			st.Failed++
			return tr.DropRow(r.task.Row), nil
		}
		st.Generated++
		return tr.CellDone(r.task.Column, r.task.Row), nil
	}

	// A full column.
	var ready []Task
	if r.err == nil && (r.col == nil || r.col.Len() != buf.Len() || r.col.Name != r.task.Column) {
		return nil, fmt.Errorf("column %q: generator returned a malformed column (internal error)", r.task.Column)
	}
	if r.err != nil { // the whole task failed: Data Designer drops the group's rows
		for _, row := range tr.LiveRows() {
			st.Failed++
			ready = append(ready, tr.DropRow(row)...)
		}
		return ready, nil
	}
	for row := range r.rowErrs {
		if !tr.Dropped(row) {
			st.Failed++
			ready = append(ready, tr.DropRow(row)...)
		}
	}
	skippedLive := 0
	for _, row := range r.skipped {
		if err := sk.mark(s.graph.byName[r.task.Column], buf, r.col, row); err != nil {
			return nil, err
		}
		if !tr.Dropped(row) {
			skippedLive++
		}
	}
	st.Skipped += skippedLive
	st.Generated += tr.Live() - skippedLive
	if err := buf.Put(r.col); err != nil {
		return nil, err
	}
	return append(ready, tr.ColumnDone(r.task.Column)...), nil
}

// setCell writes a cell's value, and its side values when the generator has side columns.
func setCell(gen *Generator, buf *frame.Frame, row int, value any) error {
	if len(gen.Side) == 0 {
		return buf.Column(gen.Name).Set(row, value)
	}
	vals, ok := value.([]any)
	if !ok || len(vals) != 1+len(gen.Side) {
		return fmt.Errorf("column %q: want its value and %d side values, got %T", gen.Name, len(gen.Side), value)
	}
	for i, name := range append([]string{gen.Name}, gen.Side...) {
		col := buf.Column(name)
		if vals[i] == nil {
			col.SetNull(row)
		} else if err := col.Set(row, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scheduler) runCell(ctx context.Context, gen *Generator, task Task, row map[string]any,
	keep func(context.Context, string, int, any), out chan<- result) {
	r := result{task: task}
	defer func() {
		if p := recover(); p != nil {
			r.err = &FatalError{Err: NewPanicError("generator", p)}
		}
		out <- r
	}()
	for r.attempts < s.opts.MaxAttempts {
		r.attempts++
		r.value, r.err = gen.Cell(ctx, row)
		if r.err == nil && keep != nil {
			keep(ctx, task.Column, task.Row, r.value)
		}
		if r.err == nil || !isRetryable(r.err) || ctx.Err() != nil {
			return
		}
	}
}

func (s *Scheduler) runColumn(ctx context.Context, gen *Generator, task Task, in *frame.Frame, rows, skipped []int, out chan<- result) {
	r := result{task: task, attempts: 1, skipped: skipped}
	defer func() {
		if p := recover(); p != nil {
			r.err = &FatalError{Err: NewPanicError("generator", p)}
		}
		out <- r
	}()
	r.col, r.rowErrs, r.err = gen.Column(ctx, in, rows)
}

func (g *Graph) seedNames() []string {
	names := make([]string, 0, len(g.seeds))
	for s := range g.seeds {
		names = append(names, s)
	}
	return names
}
