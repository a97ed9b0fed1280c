package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A million rows in row groups of 10,000 complete in local mode, exactly, with unique ids.
func TestMillionRowsLocalMode(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1M rows")
	}
	t.Parallel()
	out := t.TempDir()
	res := controller(t, t.TempDir(), "run", "-f", quickstartPath(t), "-n", "1000000",
		"--buffer-size", "10000", "--seed", "11", "--out", out)
	requireCode(t, 0, res, "controller run -n 1000000")

	ds := readDataset(t, filepath.Join(out, "quickstart"))
	require.Equal(t, 1_000_000, ds.rows())
	require.Len(t, ds.Batches, 100)
	seen := make(map[string]struct{}, 1_000_000)
	for _, tb := range ds.Tables {
		for _, id := range tb.column(t, "review_id") {
			s := id.(string)
			_, dup := seen[s]
			require.False(t, dup, "review_id %s appears twice", s)
			seen[s] = struct{}{}
		}
	}
	require.Equal(t, 1_000_000, ds.Meta.ActualNumRecords)
	require.Equal(t, 100, ds.Meta.TotalNumBatches)
}
