package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/frame"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seedFrame returns a group of n rows with an int seed column "a" holding 0..n-1.
func seedFrame(n int) *frame.Frame {
	f := frame.New(n)
	c := frame.NewColumn("a", frame.Int, n)
	for i := range n {
		c.Ints[i] = int64(i)
	}
	_ = f.Put(c)
	return f
}

// intColumn is a full-column generator computing out = fn(in) row by row.
func intColumn(name, in string, fn func(int64) (int64, error)) *scheduler.Generator {
	return &scheduler.Generator{
		Name: name, Type: frame.Int, Inputs: []string{in},
		Column: func(ctx context.Context, f *frame.Frame, rows []int) (*frame.Column, map[int]error, error) {
			out := frame.NewColumn(name, frame.Int, f.Len())
			errs := map[int]error{}
			for _, r := range rows {
				v, err := fn(f.Column(in).Ints[r])
				if err != nil {
					errs[r] = err
					continue
				}
				out.Ints[r] = v
			}
			return out, errs, nil
		},
	}
}

// intCell is a cell-by-cell generator computing out = fn(in).
func intCell(name, in string, fn func(context.Context, int64) (any, error)) *scheduler.Generator {
	return &scheduler.Generator{
		Name: name, Type: frame.Int, Inputs: []string{in},
		Cell: func(ctx context.Context, row map[string]any) (any, error) {
			return fn(ctx, row[in].(int64))
		},
	}
}

func run(t *testing.T, n int, opts scheduler.Options, gens ...*scheduler.Generator) scheduler.Outcome {
	t.Helper()
	g, err := scheduler.NewGraph([]string{"a"}, gens)
	require.NoError(t, err)
	return scheduler.New(g, opts).Run(context.Background(), seedFrame(n))
}

func TestFullColumnChain(t *testing.T) {
	t.Parallel()
	out := run(t, 100, scheduler.Options{},
		intColumn("c", "b", func(v int64) (int64, error) { return v + 1, nil }), // listed before its input
		intColumn("b", "a", func(v int64) (int64, error) { return v * 2, nil }),
	)
	require.Equal(t, scheduler.Completed, out.Status, out.Err)
	require.Equal(t, 100, out.Rows)
	for i := range 100 {
		require.Equal(t, int64(2*i+1), out.Frame.Column("c").Ints[i])
	}
	require.Equal(t, scheduler.ColumnStats{Generated: 100}, out.Columns["c"])
}

func TestFailedCellDropsOnlyItsRow(t *testing.T) {
	t.Parallel()
	out := run(t, 50, scheduler.Options{Concurrency: 4},
		intCell("b", "a", func(_ context.Context, v int64) (any, error) {
			if v%10 == 3 {
				return nil, errors.New("bad row")
			}
			return v * 10, nil
		}),
		intColumn("c", "b", func(v int64) (int64, error) { return v + 1, nil }),
	)
	require.Equal(t, scheduler.Completed, out.Status, out.Err)
	require.Equal(t, 45, out.Rows)
	require.Equal(t, 5, out.Dropped)
	require.Equal(t, 5, out.Columns["b"].Failed)
	require.Equal(t, 45, out.Columns["b"].Generated)
	for i, a := range out.Frame.Column("a").Ints {
		require.NotEqual(t, int64(3), a%10)
		require.Equal(t, a*10+1, out.Frame.Column("c").Ints[i])
	}
}

type retryErr struct{}

func (retryErr) Error() string   { return "try again" }
func (retryErr) Retryable() bool { return true }

func TestRetryableCellIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	out := run(t, 10, scheduler.Options{MaxAttempts: 3},
		intCell("b", "a", func(_ context.Context, v int64) (any, error) {
			if calls.Add(1)%2 == 1 { // every first attempt fails
				return nil, fmt.Errorf("wrapped: %w", retryErr{})
			}
			return v, nil
		}),
	)
	require.Equal(t, scheduler.Completed, out.Status, out.Err)
	require.Equal(t, 10, out.Rows)
	require.Equal(t, 10, out.Columns["b"].Retried)
}

func TestCellChainPerRow(t *testing.T) {
	t.Parallel()
	// c reads b cell by cell: each row's c runs as soon as that row's b is done.
	out := run(t, 30, scheduler.Options{Concurrency: 3},
		intCell("b", "a", func(_ context.Context, v int64) (any, error) { return v + 100, nil }),
		intCell("c", "b", func(_ context.Context, v int64) (any, error) { return v * 2, nil }),
	)
	require.Equal(t, scheduler.Completed, out.Status, out.Err)
	for i := range 30 {
		require.Equal(t, int64((i+100)*2), out.Frame.Column("c").Ints[i])
	}
}

func TestAllRowsDroppedIsDropped(t *testing.T) {
	t.Parallel()
	out := run(t, 8, scheduler.Options{},
		intColumn("b", "a", func(int64) (int64, error) { return 0, errors.New("no") }))
	require.Equal(t, scheduler.Dropped, out.Status)
	require.Nil(t, out.Frame)
	require.Equal(t, 8, out.Dropped)
}

func TestTaskErrorDropsGroupRows(t *testing.T) {
	t.Parallel()
	g := &scheduler.Generator{Name: "b", Type: frame.Int, Inputs: []string{"a"},
		Column: func(context.Context, *frame.Frame, []int) (*frame.Column, map[int]error, error) {
			return nil, nil, errors.New("backend down")
		}}
	out := run(t, 5, scheduler.Options{}, g)
	require.Equal(t, scheduler.Dropped, out.Status)
	require.Equal(t, 5, out.Columns["b"].Failed)
}

// blockingCell starts, reports that it started, and returns only when its context ends; it
// counts the calls that observed their cancellation.
type blockingCell struct {
	started, cancelled atomic.Int64
	first              chan struct{}
}

func (b *blockingCell) gen() *scheduler.Generator {
	return intCell("b", "a", func(ctx context.Context, _ int64) (any, error) {
		if b.started.Add(1) == 1 {
			close(b.first)
		}
		<-ctx.Done()
		b.cancelled.Add(1)
		return nil, ctx.Err()
	})
}

func TestCancelWaitsForEveryInflightCall(t *testing.T) {
	t.Parallel()
	b := &blockingCell{first: make(chan struct{})}
	g, err := scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{b.gen()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan scheduler.Outcome)
	go func() { done <- scheduler.New(g, scheduler.Options{Concurrency: 4}).Run(ctx, seedFrame(20)) }()
	<-b.first
	stop := errors.New("operator abort")
	cancel(stop)
	out := <-done
	require.Equal(t, scheduler.Aborted, out.Status)
	require.ErrorIs(t, out.Err, stop)
	require.Equal(t, b.started.Load(), b.cancelled.Load(), "Run returned before every call saw its cancellation")
	require.LessOrEqual(t, b.started.Load(), int64(4))
}

func TestFatalErrorFailsGroupAndDrains(t *testing.T) {
	t.Parallel()
	b := &blockingCell{first: make(chan struct{})}
	fatal := &scheduler.Generator{Name: "f", Type: frame.Int, Inputs: []string{"a"},
		Column: func(ctx context.Context, _ *frame.Frame, _ []int) (*frame.Column, map[int]error, error) {
			<-b.first // fail only once a blocking call is in flight
			return nil, nil, &scheduler.FatalError{Err: errors.New("template fails on every row")}
		}}
	out := run(t, 20, scheduler.Options{Concurrency: 32}, b.gen(), fatal) // room for the fatal task beside the blocked cells
	require.Equal(t, scheduler.Failed, out.Status)
	var fe *scheduler.FatalError
	require.ErrorAs(t, out.Err, &fe)
	require.Contains(t, out.Err.Error(), `column "f"`)
	require.Equal(t, b.started.Load(), b.cancelled.Load())
}

// The column is named once in the error that fails a group, whether or not its generator
// named it already.
func TestFatalErrorNamesTheColumnOnce(t *testing.T) {
	t.Parallel()
	for name, err := range map[string]error{
		"unnamed": errors.New("boom"),
		"named":   &scheduler.ColumnError{Column: "f", Err: errors.New("boom")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fatal := &scheduler.Generator{Name: "f", Type: frame.Int, Inputs: []string{"a"},
				Column: func(context.Context, *frame.Frame, []int) (*frame.Column, map[int]error, error) {
					return nil, nil, &scheduler.FatalError{Err: err}
				}}
			out := run(t, 3, scheduler.Options{}, fatal)
			require.Equal(t, scheduler.Failed, out.Status)
			require.Equal(t, `column "f": boom`, out.Err.Error())
			ce, ok := errors.AsType[*scheduler.ColumnError](out.Err)
			require.True(t, ok)
			require.Equal(t, "f", ce.Column)
		})
	}
}

func TestPanicFailsGroup(t *testing.T) {
	t.Parallel()
	out := run(t, 3, scheduler.Options{},
		intCell("b", "a", func(context.Context, int64) (any, error) { panic("boom") }))
	require.Equal(t, scheduler.Failed, out.Status)
	require.Contains(t, out.Err.Error(), "boom")
}

func TestGeneratorPanicIsPanicError(t *testing.T) {
	t.Parallel()
	out := run(t, 3, scheduler.Options{},
		intCell("b", "a", func(context.Context, int64) (any, error) { panic("boom") }))
	var pe *scheduler.PanicError
	require.ErrorAs(t, out.Err, &pe)
	require.Equal(t, "generator", pe.Where)
	require.Contains(t, string(pe.Stack), "TestGeneratorPanicIsPanicError", "the stack is the panicking call's")
}

// A skip expression runs in the scheduler's own loop, not in a generator call: its panic fails
// the group, and Run still returns only after the calls it had started.
func TestSkipPanicFailsGroupAndDrains(t *testing.T) {
	t.Parallel()
	const n = 4
	var started, returned atomic.Int64
	gen := intCell("b", "a", func(ctx context.Context, _ int64) (any, error) {
		started.Add(1)
		defer returned.Add(1)
		<-ctx.Done() // in flight until the panic cancels the group
		return nil, ctx.Err()
	})
	gen.Skip = &scheduler.Skip{When: func(row map[string]any) bool {
		if row["a"].(int64) == n-1 { // rows start in order: the others are in flight
			var m map[string]int
			m["x"] = 1 // a runtime error, as a buggy expression would make
		}
		return false
	}}
	out := run(t, n, scheduler.Options{Concurrency: n}, gen)
	require.Equal(t, scheduler.Failed, out.Status)
	var pe *scheduler.PanicError
	require.ErrorAs(t, out.Err, &pe)
	require.Equal(t, "scheduler", pe.Where)
	var re runtime.Error
	require.ErrorAs(t, out.Err, &re, "a runtime error stays reachable")
	require.Equal(t, int64(n-1), returned.Load(), "every call started returned before Run did")
	require.Equal(t, started.Load(), returned.Load())
}

func TestWrongCellTypeDropsRow(t *testing.T) {
	t.Parallel()
	out := run(t, 4, scheduler.Options{},
		intCell("b", "a", func(_ context.Context, v int64) (any, error) {
			if v == 2 {
				return "not an int", nil
			}
			return v, nil
		}))
	require.Equal(t, scheduler.Completed, out.Status)
	require.Equal(t, 3, out.Rows)
}

func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int64
	out := run(t, 200, scheduler.Options{Concurrency: 3},
		intCell("b", "a", func(_ context.Context, v int64) (any, error) {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			runtime.Gosched()
			cur.Add(-1)
			return v, nil
		}))
	require.Equal(t, scheduler.Completed, out.Status)
	require.LessOrEqual(t, peak.Load(), int64(3))
}

func TestGraphRejectsBadInput(t *testing.T) {
	t.Parallel()
	id := func(v int64) (int64, error) { return v, nil }
	_, err := scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{intColumn("b", "zz", id)})
	require.ErrorContains(t, err, `unknown input "zz"`)
	_, err = scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{intColumn("b", "c", id), intColumn("c", "b", id)})
	require.ErrorContains(t, err, "cycle")
	_, err = scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{intColumn("a", "a", id)})
	require.ErrorContains(t, err, "duplicate")
}

// The scheduler only schedules: it must not reach for I/O, the broker, processors or sinks.
func TestImportsStayPure(t *testing.T) {
	t.Parallel()
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range pkg.Imports {
		for _, banned := range []string{"nats", "/lifecycle", "/sinks", "/wire", "/broker", "/processors", "os/exec", "net", "arrow"} {
			require.False(t, strings.Contains(imp, banned), "scheduler imports %s", imp)
		}
	}
}

// Cells an earlier delivery finished are taken as they are, not generated again; the rest are
// generated and kept as they finish.
func TestRunCellsResumesAndKeeps(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[int64]int{}
	b := intCell("b", "a", func(_ context.Context, v int64) (any, error) {
		mu.Lock()
		calls[v]++
		mu.Unlock()
		return v * 10, nil
	})
	c := intColumn("c", "b", func(v int64) (int64, error) { return v + 1, nil })
	g, err := scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{b, c})
	require.NoError(t, err)
	kept := map[int]any{}
	out := scheduler.New(g, scheduler.Options{Concurrency: 3}).RunCells(context.Background(), seedFrame(6), scheduler.Cells{
		Done: map[string]map[int]any{"b": {0: int64(100), 4: int64(400)}},
		Keep: func(_ context.Context, column string, row int, v any) {
			require.Equal(t, "b", column)
			mu.Lock()
			kept[row] = v
			mu.Unlock()
		},
	})
	require.Equal(t, scheduler.Completed, out.Status)
	require.Equal(t, []int64{100, 10, 20, 30, 400, 50}, out.Frame.Column("b").Ints)
	require.Equal(t, []int64{101, 11, 21, 31, 401, 51}, out.Frame.Column("c").Ints, "downstream reads the kept cells")
	require.Equal(t, map[int64]int{1: 1, 2: 1, 3: 1, 5: 1}, calls, "rows 0 and 4 are not generated again")
	require.Equal(t, map[int]any{1: int64(10), 2: int64(20), 3: int64(30), 5: int64(50)}, kept)
}

// callLog records the generator calls of a group, in the order they are made, each as the
// place Options.TaskContext put on its context: "column row @height" ("c@1" for a full column).
type callLog struct {
	mu    sync.Mutex
	calls []string
}

type placeKey struct{}

func (l *callLog) opts() scheduler.Options {
	return scheduler.Options{Concurrency: 1, MaxAttempts: 1,
		TaskContext: func(ctx context.Context, t scheduler.Task, height int) context.Context {
			place := fmt.Sprintf("%s%d@%d", t.Column, t.Row, height)
			if t.Row < 0 {
				place = fmt.Sprintf("%s@%d", t.Column, height)
			}
			return context.WithValue(ctx, placeKey{}, place)
		}}
}

func (l *callLog) add(ctx context.Context) string {
	place := ctx.Value(placeKey{}).(string)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, place)
	return place
}

// cell passes in on; the call placed at fail fails, dropping its row.
func (l *callLog) cell(name, in, fail string) *scheduler.Generator {
	return intCell(name, in, func(ctx context.Context, v int64) (any, error) {
		if l.add(ctx) == fail {
			return nil, errors.New("bad row")
		}
		return v, nil
	})
}

// column passes in on.
func (l *callLog) column(name, in string) *scheduler.Generator {
	g := intColumn(name, in, func(v int64) (int64, error) { return v, nil })
	column := g.Column
	g.Column = func(ctx context.Context, f *frame.Frame, rows []int) (*frame.Column, map[int]error, error) {
		l.add(ctx)
		return column(ctx, f, rows)
	}
	return g
}

// One call at a time, the ready task with the longest chain still waiting on it goes first,
// then the lowest row (a full column before the cells of its height), then the first ready:
// the group's critical path first, so that its last rows do not each work through a chain
// alone at its end. Row by row, the chain would run b0 c0 d0 b1 c1 d1 b2 c2 d2.
func TestLongestChainsGoFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rows int
		gens func(l *callLog) []*scheduler.Generator
		want []string
	}{{
		name: "a chain goes column by column",
		rows: 3,
		gens: func(l *callLog) []*scheduler.Generator {
			return []*scheduler.Generator{l.cell("b", "a", ""), l.cell("c", "b", ""), l.cell("d", "c", "")}
		},
		want: []string{"b0@2", "b1@2", "b2@2", "c0@1", "c1@1", "c2@1", "d0@0", "d1@0", "d2@0"},
	}, {
		name: "a cell nothing waits on goes after the chains",
		rows: 2,
		gens: func(l *callLog) []*scheduler.Generator {
			return []*scheduler.Generator{l.cell("b", "a", ""), l.cell("x", "a", ""), l.column("c", "b"), l.cell("d", "c", "")}
		},
		// x, which nothing reads, waits for the chain b → c → d to reach its end; within a
		// height, the lower row first.
		want: []string{"b0@2", "b1@2", "c@1", "x0@0", "d0@0", "x1@0", "d1@0"},
	}, {
		name: "a dropped row's queued tasks are discarded",
		rows: 2,
		gens: func(l *callLog) []*scheduler.Generator {
			return []*scheduler.Generator{l.cell("b", "a", "b0@1"), l.cell("x", "a", ""), l.cell("c", "b", "")}
		},
		// x0 was queued when b0 failed: it never runs.
		want: []string{"b0@1", "b1@1", "x1@0", "c1@0"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &callLog{}
			g, err := scheduler.NewGraph([]string{"a"}, tc.gens(l))
			require.NoError(t, err)
			out := scheduler.New(g, l.opts()).Run(context.Background(), seedFrame(tc.rows))
			require.Equal(t, scheduler.Completed, out.Status, out.Err)
			require.Equal(t, tc.want, l.calls)
		})
	}
}

// A column's height is the longest chain of generated columns that read it, directly or not; a
// side column counts as its generator.
func TestGraphHeight(t *testing.T) {
	t.Parallel()
	node := func(name string, inputs ...string) *scheduler.Generator {
		return &scheduler.Generator{Name: name, Type: frame.Int, Inputs: inputs,
			Cell: func(context.Context, map[string]any) (any, error) { return nil, nil }}
	}
	traced := node("b", "a")
	traced.Side = []string{"b_trace"}
	g, err := scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{
		node("e", "a", "d"), // listed before its inputs
		node("d", "b_trace"),
		traced,
		node("c", "b"),
		node("f", "c", "e"),
		node("x", "a"),
	})
	require.NoError(t, err)
	for column, want := range map[string]int{"b": 3, "d": 2, "c": 1, "e": 1, "f": 0, "x": 0} {
		require.Equal(t, want, g.Height(column), column)
	}
}
