package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

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
func (s *Scheduler) RunCells(ctx context.Context, buf *frame.Frame, cells Cells) Outcome {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	n := buf.Len()
	tr := NewTracker(s.graph, n)
	stats := map[string]ColumnStats{}
	for _, gen := range s.graph.gens {
		stats[gen.Name] = ColumnStats{}
		if gen.Strategy() == CellByCell {
			if err := buf.Put(frame.NewColumn(gen.Name, gen.Type, n)); err != nil {
				return Outcome{Status: Failed, Err: err, Columns: stats}
			}
			for _, side := range gen.Side {
				if err := buf.Put(frame.NewColumn(side, frame.String, n)); err != nil {
					return Outcome{Status: Failed, Err: err, Columns: stats}
				}
			}
		}
	}
	for _, seed := range s.graph.seedNames() {
		if buf.Column(seed) == nil {
			return Outcome{Status: Failed, Err: fmt.Errorf("seed column %q missing from the prepared group", seed), Columns: stats}
		}
	}

	sk := newSkips(s.graph, n)
	queue := tr.Roots()
	results := make(chan result, s.opts.Concurrency) // never blocks: at most Concurrency in flight
	inflight := 0
	var fatal error

	for {
		for fatal == nil && ctx.Err() == nil && inflight < s.opts.Concurrency && len(queue) > 0 {
			task := queue[0]
			queue = queue[1:]
			if task.Row >= 0 && tr.Dropped(task.Row) {
				continue
			}
			gen := s.graph.byName[task.Column]
			inflight++
			if v, ok := cells.Done[task.Column][task.Row]; ok && task.Row >= 0 {
				results <- result{task: task, value: v} // room: at most Concurrency in flight
				continue
			}
			if task.Row >= 0 {
				row := make(map[string]any, len(gen.Inputs))
				for _, in := range gen.Inputs {
					row[in] = buf.Column(in).Value(task.Row)
				}
				if sk.skip(gen, task.Row, row) {
					results <- result{task: task, skipped: []int{task.Row}}
					continue
				}
				go s.runCell(ctx, gen, task, row, cells.Keep, results)
			} else {
				live, skipped := sk.split(gen, buf, tr.LiveRows())
				if len(live) == 0 { // nothing to generate: no call, as in Data Designer
					results <- result{task: task, col: frame.NewColumn(gen.Name, gen.Type, n), skipped: skipped}
					continue
				}
				go s.runColumn(ctx, gen, task, buf.Select(gen.Inputs), live, skipped, results)
			}
		}
		if inflight == 0 {
			break
		}
		r := <-results
		inflight--
		if fatal != nil || ctx.Err() != nil {
			continue // draining: results of cancelled work are discarded
		}
		var ready []Task
		before := stats[r.task.Column]
		ready, fatal = s.apply(r, buf, tr, stats, sk)
		cells.progress(r.task.Column, before, stats[r.task.Column])
		if fatal != nil {
			cancel(fatal)
		}
		queue = append(queue, ready...)
	}

	out := Outcome{Columns: stats, Rows: tr.Live(), Dropped: n - tr.Live()}
	switch {
	case fatal != nil:
		out.Status, out.Err = Failed, fatal
	case ctx.Err() != nil:
		out.Status, out.Err = Aborted, context.Cause(ctx)
	case tr.Live() == 0:
		out.Status = Dropped
	case !tr.Done():
		out.Status, out.Err = Failed, errors.New("scheduler stalled with columns incomplete (internal error)")
	default:
		keep := make([]bool, n)
		for _, r := range tr.LiveRows() {
			keep[r] = true
		}
		out.Status, out.Frame = Completed, buf.Filter(keep)
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
		return nil, fmt.Errorf("column %q: %w", r.task.Column, r.err)
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
			r.err = &FatalError{Err: fmt.Errorf("generator panicked: %v\n%s", p, debug.Stack())}
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
			r.err = &FatalError{Err: fmt.Errorf("generator panicked: %v\n%s", p, debug.Stack())}
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
