package scheduler

// Task is one unit of work: a whole column (Row < 0) or one cell.
type Task struct {
	Column string
	Row    int
}

// Tracker records what is done in one row group and derives what became ready. It is not safe
// for concurrent use: the scheduler's event loop owns it.
type Tracker struct {
	g       *Graph
	size    int
	dropped []bool
	live    int // rows not dropped
	// cellDone[col][row] for cell-by-cell columns; cellLeft counts live rows still to do.
	cellDone   map[string][]bool
	cellIssued map[string][]bool // handed out; each cell task is issued once
	cellLeft   map[string]int
	complete   map[string]bool // column complete for every live row
	started    map[string]bool // full-column task handed out
}

// NewTracker starts a tracker for a group of size rows whose seed columns are complete.
func NewTracker(g *Graph, size int) *Tracker {
	t := &Tracker{
		g: g, size: size, dropped: make([]bool, size), live: size,
		cellDone: map[string][]bool{}, cellIssued: map[string][]bool{}, cellLeft: map[string]int{},
		complete: map[string]bool{}, started: map[string]bool{},
	}
	for s := range g.seeds {
		t.complete[s] = true
	}
	for _, gen := range g.gens {
		if gen.Strategy() == CellByCell {
			t.cellDone[gen.Name] = make([]bool, size)
			t.cellIssued[gen.Name] = make([]bool, size)
			t.cellLeft[gen.Name] = size
		}
	}
	return t
}

// Roots returns the tasks ready before anything has run.
func (t *Tracker) Roots() []Task {
	var ready []Task
	for _, gen := range t.g.gens {
		ready = t.appendReady(ready, gen)
	}
	return ready
}

// appendReady adds gen's tasks that are ready now and were not handed out yet.
func (t *Tracker) appendReady(ready []Task, gen *Generator) []Task {
	if t.complete[gen.Name] {
		return ready
	}
	if gen.Strategy() == FullColumn {
		if t.started[gen.Name] || !t.inputsComplete(gen) {
			return ready
		}
		t.started[gen.Name] = true
		return append(ready, Task{Column: gen.Name, Row: -1})
	}
	for row := range t.size {
		if r, ok := t.cellReady(gen, row); ok {
			ready = append(ready, r)
		}
	}
	return ready
}

func (t *Tracker) inputsComplete(gen *Generator) bool {
	for _, in := range gen.Inputs {
		if !t.complete[t.g.resolve(in)] {
			return false
		}
	}
	return true
}

// cellReady reports whether gen's cell in row can run — the row lives, the cell was not issued,
// and each input is done for that row (cell inputs) or for the group (full-column inputs) — and
// if so marks it issued.
func (t *Tracker) cellReady(gen *Generator, row int) (Task, bool) {
	if t.dropped[row] || t.cellIssued[gen.Name][row] {
		return Task{}, false
	}
	for _, in := range gen.Inputs {
		in = t.g.resolve(in)
		if done, ok := t.cellDone[in]; ok {
			if !done[row] {
				return Task{}, false
			}
		} else if !t.complete[in] {
			return Task{}, false
		}
	}
	t.cellIssued[gen.Name][row] = true
	return Task{Column: gen.Name, Row: row}, true
}

// CellDone records a generated cell and returns the tasks it made ready. Each cell is reported
// once: the scheduler hands every cell task out once.
func (t *Tracker) CellDone(col string, row int) []Task {
	if t.dropped[row] || t.cellDone[col][row] {
		return nil
	}
	t.cellDone[col][row] = true
	t.cellLeft[col]--
	var ready []Task
	for _, d := range t.g.down[col] {
		if d.Strategy() == CellByCell {
			if r, ok := t.cellReady(d, row); ok {
				ready = append(ready, r)
			}
		}
	}
	if t.cellLeft[col] == 0 {
		ready = append(ready, t.markComplete(col)...)
	}
	return ready
}

// ColumnDone records a generated full column and returns the tasks it made ready.
func (t *Tracker) ColumnDone(col string) []Task { return t.markComplete(col) }

func (t *Tracker) markComplete(col string) []Task {
	if t.complete[col] {
		return nil
	}
	t.complete[col] = true
	var ready []Task
	for _, d := range t.g.down[col] {
		ready = t.appendReady(ready, d)
	}
	return ready
}

// DropRow removes a row from the group. Cell columns waiting only for this row may complete,
// which can make full-column tasks ready: those are returned.
func (t *Tracker) DropRow(row int) []Task {
	if t.dropped[row] {
		return nil
	}
	t.dropped[row] = true
	t.live--
	var ready []Task
	for _, gen := range t.g.gens { // topological order: completions cascade forward
		if gen.Strategy() != CellByCell || t.cellDone[gen.Name][row] {
			continue
		}
		t.cellLeft[gen.Name]--
		if t.cellLeft[gen.Name] == 0 {
			ready = append(ready, t.markComplete(gen.Name)...)
		}
	}
	return ready
}

// Dropped reports whether row was dropped.
func (t *Tracker) Dropped(row int) bool { return t.dropped[row] }

// Live is the number of rows not dropped.
func (t *Tracker) Live() int { return t.live }

// LiveRows lists the rows not dropped, in order.
func (t *Tracker) LiveRows() []int {
	rows := make([]int, 0, t.live)
	for i, d := range t.dropped {
		if !d {
			rows = append(rows, i)
		}
	}
	return rows
}

// Done reports whether every generated column is complete for every live row.
func (t *Tracker) Done() bool {
	if t.live == 0 {
		return true
	}
	for _, gen := range t.g.gens {
		if !t.complete[gen.Name] {
			return false
		}
	}
	return true
}
