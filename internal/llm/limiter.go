package llm

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"time"
)

// AIMD parameters, Data Designer's defaults (RunConfig.request_admission).
const (
	decreaseFactor      = 0.75            // on a 429
	successesToIncrease = 25              // successes in a row before the limit grows by one
	decreaseCooldown    = 2 * time.Second // a burst of 429s shrinks the limit once
)

// Limiter admits requests to one model: never more in flight than its limit, which is at most
// its ceiling — this process's share of the model's max_parallel_requests. A 429 multiplies the
// limit by 0.75 (once per burst), successes grow it back by one at a time.
//
// Requests that find no free slot wait in line, served by their row group's rank, then by cell
// (see WithGroup and WithCell), then in arrival order. A worker ranks a run's groups by index,
// so the oldest group's cells take the freed seats and groups finish — and commit — in turn,
// while younger groups use what the older ones cannot; within a rank, the cell with the longest
// chain still waiting on it goes first, as the scheduler starts them. A freed slot is handed to
// the first in line, never raced for.
type Limiter struct {
	mu           sync.Mutex
	ceiling      int
	limit        float64
	inFlight     int
	line         waiters
	arrivals     uint64
	successes    int
	lastDecrease time.Time
	now          func() time.Time
}

// NewLimiter returns a limiter whose ceiling (and starting limit) is ceiling.
func NewLimiter(ceiling int) *Limiter {
	return &Limiter{ceiling: ceiling, limit: float64(ceiling), now: time.Now}
}

// Outcome is how an admitted request ended, as the limiter cares.
type Outcome int

const (
	Succeeded   Outcome = iota
	RateLimited         // 429: shrink
	Failed              // any other failure: neither shrink nor grow
)

// group is where a request's row group stands in line.
type group struct{ rank, index int }

// WithGroup returns a context whose requests wait ahead of those of a larger rank (the default
// is rank 0, index 0). The worker passes each row group's rank — its index, but the run's last
// groups share one — and its index, which orders the groups of one rank after the cell's
// height.
func WithGroup(ctx context.Context, rank, index int) context.Context {
	return withValue(ctx, group{rank, index})
}

// cell is where a request stands in its row group.
type cell struct{ height, row int }

// WithCell returns a context whose requests wait, within their group's rank, ahead of those
// with a smaller height, or the same height and a larger row (the default is height 0, row 0).
// The worker passes each generator call's height in the run's column graph — how many columns
// still wait on it, in the longest chain — and its row (-1 for a full-column call).
func WithCell(ctx context.Context, height, row int) context.Context {
	return withValue(ctx, cell{height, row})
}

// Acquire waits for a slot. The caller must call the returned release exactly once.
func (l *Limiter) Acquire(ctx context.Context) (release func(Outcome), err error) {
	l.mu.Lock()
	if l.line.Len() == 0 && l.inFlight < l.allowed() {
		l.inFlight++
		l.mu.Unlock()
		return l.releaser(), nil
	}
	l.arrivals++
	w := &waiter{group: valueOf[group](ctx), cell: valueOf[cell](ctx), arrival: l.arrivals, admitted: make(chan struct{})}
	heap.Push(&l.line, w)
	l.mu.Unlock()

	select {
	case <-w.admitted:
		return l.releaser(), nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.index < 0 { // admitted meanwhile: hand the slot on
		l.inFlight--
		l.admit()
	} else {
		heap.Remove(&l.line, w.index)
	}
	return nil, context.Cause(ctx)
}

func (l *Limiter) releaser() func(Outcome) {
	var once sync.Once
	return func(o Outcome) { once.Do(func() { l.release(o) }) }
}

// admit hands free slots to the first in line. l.mu is held.
func (l *Limiter) admit() {
	for l.line.Len() > 0 && l.inFlight < l.allowed() {
		w := heap.Pop(&l.line).(*waiter)
		l.inFlight++
		close(w.admitted)
	}
}

// allowed is the whole number of requests the limit admits: at least one while the ceiling is
// positive, so that a model throttled hard still makes progress.
func (l *Limiter) allowed() int {
	if l.ceiling <= 0 {
		return 0
	}
	return max(1, int(math.Floor(l.limit)))
}

func (l *Limiter) release(o Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	switch o {
	case Succeeded:
		if l.successes++; l.successes >= successesToIncrease {
			l.successes = 0
			l.limit = min(float64(l.ceiling), l.limit+1)
		}
	case RateLimited:
		l.successes = 0
		if now := l.now(); now.Sub(l.lastDecrease) >= decreaseCooldown {
			l.lastDecrease = now
			l.limit = max(1, l.limit*decreaseFactor)
		}
	}
	l.admit()
}

// SetCeiling changes this process's share (a worker joined or left, seats moved to where the
// requests wait). A limit at the old ceiling follows it up; one that 429s had lowered grows
// back on its own.
func (l *Limiter) SetCeiling(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit >= float64(l.ceiling) || l.limit > float64(n) {
		l.limit = float64(n)
	}
	l.ceiling = n
	l.admit()
}

// RaiseCeiling is SetCeiling(n) when n is above the current ceiling, and nothing otherwise:
// seats claimed one by one, concurrently, raise it in whatever order their claims return.
func (l *Limiter) RaiseCeiling(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= l.ceiling {
		return
	}
	if l.limit >= float64(l.ceiling) {
		l.limit = float64(n)
	}
	l.ceiling = n
	l.admit()
}

// LimiterState is a snapshot for logs, tests, metrics and the seats' sharing.
type LimiterState struct {
	Ceiling, InFlight int
	// Waiting counts requests in line for a slot: with InFlight, the model's demand here.
	Waiting int
	Limit   float64
}

// State returns the limiter's current state.
func (l *Limiter) State() LimiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterState{Ceiling: l.ceiling, InFlight: l.inFlight, Waiting: l.line.Len(), Limit: l.limit}
}

// waiter is a request in line. index is its place in the heap, -1 once admitted.
type waiter struct {
	group    group
	cell     cell
	arrival  uint64
	index    int
	admitted chan struct{}
}

// waiters is a heap: lowest rank first, then greatest height, then lowest group index, then
// lowest row, then first come.
type waiters []*waiter

func (q waiters) Len() int { return len(q) }
func (q waiters) Less(i, j int) bool {
	a, b := q[i], q[j]
	switch {
	case a.group.rank != b.group.rank:
		return a.group.rank < b.group.rank
	case a.cell.height != b.cell.height:
		return a.cell.height > b.cell.height
	case a.group.index != b.group.index:
		return a.group.index < b.group.index
	case a.cell.row != b.cell.row:
		return a.cell.row < b.cell.row
	default:
		return a.arrival < b.arrival
	}
}
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
