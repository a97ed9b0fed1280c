package scheduler_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/scheduler"
)

// Cells.Progress is told of every cell as it is folded in: its additions sum to the group's
// column stats, failures and full columns included.
func TestProgressSumsToTheStats(t *testing.T) {
	t.Parallel()
	g, err := scheduler.NewGraph([]string{"a"}, []*scheduler.Generator{
		intCell("b", "a", func(_ context.Context, v int64) (any, error) {
			if v%10 == 3 {
				return nil, errors.New("no threes")
			}
			return v, nil
		}),
		intCell("c", "b", func(_ context.Context, v int64) (any, error) { return v + 1, nil }),
		intColumn("d", "c", func(v int64) (int64, error) { return v, nil }),
	})
	require.NoError(t, err)
	sums := map[string]scheduler.ColumnStats{}
	calls := 0
	out := scheduler.New(g, scheduler.Options{Concurrency: 4}).RunCells(context.Background(), seedFrame(50), scheduler.Cells{
		Progress: func(column string, added scheduler.ColumnStats) { // the scheduler's loop: no lock needed
			calls++
			require.NotEqual(t, scheduler.ColumnStats{}, added, "only changes are told")
			s := sums[column]
			s.Generated += added.Generated
			s.Failed += added.Failed
			s.Skipped += added.Skipped
			sums[column] = s
		},
	})
	require.Equal(t, scheduler.Completed, out.Status, out.Err)
	require.Equal(t, 45, out.Rows)
	for column, st := range out.Columns {
		st.Retried = 0
		require.Equal(t, st, sums[column], column)
	}
	require.Equal(t, scheduler.ColumnStats{Generated: 45, Failed: 5}, sums["b"])
	require.Equal(t, scheduler.ColumnStats{Generated: 45}, sums["c"])
	require.Equal(t, scheduler.ColumnStats{Generated: 45}, sums["d"], "a full column at once")
	require.Equal(t, 50+45+1, calls, "one per cell of b and c, one for d")
}
