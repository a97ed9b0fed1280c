package llm

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiterNeverAdmitsMoreThanItsLimit(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3)
	var releases []func(Outcome)
	for range 3 {
		r, err := l.Acquire(context.Background())
		require.NoError(t, err)
		releases = append(releases, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(ctx)
		if err == nil {
			r(Succeeded)
		}
		got <- err
	}()
	require.Equal(t, 3, l.State().InFlight)
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "a fourth request waits until its context ends")

	waiting := make(chan func(Outcome))
	go func() {
		r, err := l.Acquire(context.Background())
		if err != nil {
			panic(err)
		}
		waiting <- r
	}()
	releases[0](Succeeded)
	releases[0](Succeeded) // a second release is ignored
	r := <-waiting
	require.Equal(t, 3, l.State().InFlight)
	r(Succeeded)
	releases[1](Succeeded)
	releases[2](Succeeded)
	require.Zero(t, l.State().InFlight)
}

func TestLimiterAIMD(t *testing.T) {
	t.Parallel()
	l := NewLimiter(8)
	clock := time.Unix(1000, 0)
	l.now = func() time.Time { return clock }
	do := func(o Outcome) {
		r, err := l.Acquire(context.Background())
		require.NoError(t, err)
		r(o)
	}
	do(RateLimited)
	require.Equal(t, 6.0, l.State().Limit, "a 429 multiplies the limit by 0.75")
	do(RateLimited)
	require.Equal(t, 6.0, l.State().Limit, "a burst of 429s shrinks it once")
	clock = clock.Add(decreaseCooldown)
	do(RateLimited)
	require.Equal(t, 4.5, l.State().Limit)
	do(Failed)
	require.Equal(t, 4.5, l.State().Limit, "other failures change nothing")
	for range successesToIncrease {
		do(Succeeded)
	}
	require.Equal(t, 5.5, l.State().Limit, "25 successes grow it by one")
	for range 10 * successesToIncrease {
		do(Succeeded)
	}
	require.Equal(t, 8.0, l.State().Limit, "never past the ceiling")

	for range 20 {
		clock = clock.Add(decreaseCooldown)
		do(RateLimited)
	}
	require.Equal(t, 1.0, l.State().Limit, "never below one")
}

func TestLimiterCeilingFollowsTheShare(t *testing.T) {
	t.Parallel()
	l := NewLimiter(10)
	l.SetCeiling(4)
	require.Equal(t, LimiterState{Ceiling: 4, Limit: 4}, l.State())
	l.SetCeiling(6)
	require.Equal(t, LimiterState{Ceiling: 6, Limit: 6}, l.State(), "a limit at its ceiling follows it up")

	r, err := l.Acquire(context.Background())
	require.NoError(t, err)
	r(RateLimited) // 4.5
	l.SetCeiling(8)
	require.Equal(t, 4.5, l.State().Limit, "a throttled limit grows back on its own")

	l.SetCeiling(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.Acquire(ctx)
	require.Error(t, err, "a share of zero admits nothing")
}

// A freed slot goes to the waiting request of the smallest priority, then to the first come;
// a request that gives up leaves the line without taking a slot.
func TestLimiterServesTheLineByPriority(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1)
	hold, err := l.Acquire(context.Background())
	require.NoError(t, err)

	q := newLine(l)
	q.add("group 3", WithGroup(context.Background(), 3, 3))
	q.add("group 1, first", WithGroup(context.Background(), 1, 1))
	q.add("group 1, second", WithGroup(context.Background(), 1, 1))
	quit, cancel := context.WithCancel(WithGroup(context.Background(), 0, 0))
	q.add("group 0", quit)
	cancel()
	require.Equal(t, "group 0 gave up", q.next().name)
	require.Equal(t, 3, l.State().Waiting)

	hold(Succeeded)
	var order []string
	for range 3 {
		g := q.next()
		order = append(order, g.name)
		require.Equal(t, 1, l.State().InFlight)
		g.release(Succeeded)
	}
	require.Equal(t, []string{"group 1, first", "group 1, second", "group 3"}, order)
	require.Equal(t, LimiterState{Ceiling: 1, Limit: 1}, l.State())
}

// Raising the ceiling admits as many of the line as it allows at once.
func TestLimiterSetCeilingAdmitsTheLine(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	got := inLine(l, 3)
	l.SetCeiling(2)
	r1, r2 := got.release(), got.release()
	require.Equal(t, LimiterState{Ceiling: 2, InFlight: 2, Waiting: 1, Limit: 2}, l.State())
	r1(Succeeded)
	r3 := got.release()
	r2(Succeeded)
	r3(Succeeded)
	require.Zero(t, l.State().InFlight)
}

// line puts requests in a limiter's line, one after another in the order add is called, and
// hands out each one's grant as it is admitted, or gives up.
type line struct {
	l       *Limiter
	granted chan grant
}

type grant struct {
	name    string
	release func(Outcome) // nil when the request gave up
}

func newLine(l *Limiter) *line { return &line{l: l, granted: make(chan grant, 16)} }

// add makes a request under ctx and returns once it is in line.
func (q *line) add(name string, ctx context.Context) {
	waiting := q.l.State().Waiting
	go func() {
		r, err := q.l.Acquire(ctx)
		if err != nil {
			q.granted <- grant{name: name + " gave up"}
			return
		}
		q.granted <- grant{name, r}
	}()
	for q.l.State().Waiting != waiting+1 {
		runtime.Gosched()
	}
}

// next is the next grant.
func (q *line) next() grant { return <-q.granted }

// release is the next grant's release.
func (q *line) release() func(Outcome) { return q.next().release }

// inLine puts n requests in l's line.
func inLine(l *Limiter, n int) *line {
	q := newLine(l)
	for i := range n {
		q.add(fmt.Sprint(i), context.Background())
	}
	return q
}

// RaiseCeiling admits the line as seats are claimed one by one, and ignores a claim that
// returns after a later one; a limit that a 429 lowered is not raised by it.
func TestLimiterRaiseCeilingOnlyRaises(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0)
	got := inLine(l, 3)
	l.RaiseCeiling(1)
	r1 := got.release()
	l.RaiseCeiling(3)
	r2, r3 := got.release(), got.release()
	l.RaiseCeiling(2) // a claim that returned late
	require.Equal(t, LimiterState{Ceiling: 3, InFlight: 3, Limit: 3}, l.State())

	r1(RateLimited) // the limit shrinks to 2.25
	l.RaiseCeiling(4)
	require.Equal(t, LimiterState{Ceiling: 4, InFlight: 2, Limit: 2.25}, l.State())
	r2(Succeeded)
	r3(Succeeded)
}

// Within one rank, a freed slot goes to the cell of greatest height, then the lowest group
// index, then the lowest row (a full-column call, row -1, first), then the first come; a
// smaller rank, an older group, beats any height. A request without a group or cell is rank 0,
// index 0, height 0, row 0.
func TestLimiterServesTheLongestChainFirst(t *testing.T) {
	t.Parallel()
	type request struct {
		name                     string
		rank, index, height, row int
		noCell                   bool
	}
	for _, tc := range []struct {
		name  string
		line  []request // in arrival order
		admit []string
	}{{
		name: "greatest height, then lowest row, then first come",
		line: []request{
			{name: "height 0 row 2", row: 2},
			{name: "height 2 row 5", height: 2, row: 5},
			{name: "height 1 row 1", height: 1, row: 1},
			{name: "height 2 row 3", height: 2, row: 3},
			{name: "height 2 row 3 again", height: 2, row: 3},
			{name: "height 1 column", height: 1, row: -1},
			{name: "no cell", noCell: true},
		},
		admit: []string{"height 2 row 3", "height 2 row 3 again", "height 2 row 5", "height 1 column", "height 1 row 1", "no cell", "height 0 row 2"},
	}, {
		name: "an older group beats a greater height",
		line: []request{
			{name: "group 1 height 5", rank: 1, index: 1, height: 5},
			{name: "group 0 height 0 row 9", row: 9},
			{name: "group 2 height 9", rank: 2, index: 2, height: 9},
			{name: "group 0 height 1", height: 1, row: 20},
		},
		admit: []string{"group 0 height 1", "group 0 height 0 row 9", "group 1 height 5", "group 2 height 9"},
	}, {
		name: "groups of one rank share the seats column by column",
		line: []request{
			{name: "group 4 height 0", rank: 3, index: 4},
			{name: "group 3 height 0", rank: 3, index: 3},
			{name: "group 5 height 2", rank: 3, index: 5, height: 2},
			{name: "group 3 height 1", rank: 3, index: 3, height: 1},
			{name: "group 2 height 0", rank: 2, index: 2},
		},
		admit: []string{"group 2 height 0", "group 5 height 2", "group 3 height 1", "group 3 height 0", "group 4 height 0"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := NewLimiter(1)
			hold, err := l.Acquire(context.Background())
			require.NoError(t, err)
			q := newLine(l)
			for _, r := range tc.line {
				ctx := WithGroup(context.Background(), r.rank, r.index)
				if !r.noCell {
					ctx = WithCell(ctx, r.height, r.row)
				}
				q.add(r.name, ctx)
			}
			hold(Succeeded)
			var order []string
			for range tc.line {
				g := q.next()
				order = append(order, g.name)
				g.release(Succeeded)
			}
			require.Equal(t, tc.admit, order)
		})
	}
}
