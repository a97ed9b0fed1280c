package lifecycle

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/wire"
)

// A resumed run takes in its ledger as its groups settled: the same counts, and the groups
// marked ended so that admission skips them.
func TestFromLedger(t *testing.T) {
	t.Parallel()

	newRun := func() *run {
		plan := Plan{NumRecords: 250, BufferSize: 50} // five groups
		return &run{opts: Options{RunID: "0a1b2c3d4e5f"}, plan: plan,
			ended: make([]bool, plan.Groups()), endedBefore: make([]bool, plan.Groups())}
	}
	usage := func(n int64) map[string]wire.ModelUsage {
		return map[string]wire.ModelUsage{"writer": {Requests: n, PromptTokens: 10 * n}}
	}

	t.Run("CountsAsSettle", func(t *testing.T) {
		t.Parallel()
		ends := map[int]*wire.GroupEnd{
			0: {Status: wire.EndCommitted, Commit: &wire.Commit{Group: 0, Rows: 50, Path: "g0"}, Usage: usage(2)},
			1: {Status: wire.EndDropped, Usage: usage(3)},
			3: {Status: wire.EndCommitted, Commit: &wire.Commit{Group: 3, Rows: 48, Path: "g3"}},
		}
		resumed := newRun()
		require.NoError(t, resumed.fromLedger(ends))

		settled := newRun()
		for _, g := range []int{0, 1, 3} {
			settled.result.count(*ends[g])
		}
		require.ElementsMatch(t, settled.result.Commits, resumed.result.Commits)
		resumed.result.Commits = settled.result.Commits
		settled.result.Resumed = 3
		require.Equal(t, settled.result, resumed.result)

		require.Equal(t, 98, resumed.result.Rows)
		require.Equal(t, 1, resumed.result.Dropped)
		require.Equal(t, map[string]wire.ModelUsage{"writer": {Requests: 5, PromptTokens: 50}}, resumed.result.Usage)
		require.Equal(t, 3, resumed.nEnded)
		require.Equal(t, []bool{true, true, false, true, false}, resumed.ended)
		require.Equal(t, resumed.ended, resumed.endedBefore, "admission skips what the ledger holds")
	})

	t.Run("GroupOutsideThePlanFails", func(t *testing.T) {
		t.Parallel()
		err := newRun().fromLedger(map[int]*wire.GroupEnd{5: {Status: wire.EndDropped}})
		var ge *DatasetGenerationError
		require.ErrorAs(t, err, &ge)
		require.Equal(t, 5, ge.Group)
	})
}
