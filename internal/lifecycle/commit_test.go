package lifecycle

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The metadata lists the committed files in group order, whatever order the groups committed
// in, under the mode's key, with each side dataset's files under its folder.
func TestMetadata(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 10}}
`))
	require.NoError(t, err)
	newRun := func(mode string) *run {
		return &run{cfg: cfg, opts: Options{RunID: "0a1b2c3d4e5f", Mode: mode, NumRecords: 150, BufferSize: 50,
			Seed: 7, DatasetName: "d"}, result: Result{Rows: 140, Commits: []wire.Commit{
			{Group: 2, Rows: 50, Path: "p2", Sides: map[string]string{"dropped-columns": "s2"}},
			{Group: 0, Rows: 40, Path: "p0", Sides: map[string]string{"dropped-columns": "s0"}},
			{Group: 1, Rows: 50, Path: "p1"},
		}, Usage: map[string]wire.ModelUsage{"writer": {Requests: 3}}}}
	}

	t.Run("Build", func(t *testing.T) {
		t.Parallel()
		r := newRun(wire.ModeBuild)
		meta := r.metadata()
		require.Equal(t, map[string][]string{"parquet-files": {"p0", "p1", "p2"}, "dropped-columns": {"s0", "s2"}},
			meta.FilePaths)
		require.Equal(t, []int{0, 1, 2}, []int{r.result.Commits[0].Group, r.result.Commits[1].Group,
			r.result.Commits[2].Group}, "the result's commits are sorted too")
		require.Equal(t, wire.RunCompleted, meta.Outcome)
		require.Equal(t, 150, meta.TargetNumRecords)
		require.Equal(t, 140, meta.ActualNumRecords)
		require.Equal(t, 3, meta.TotalNumBatches)
		require.Equal(t, 50, meta.BufferSize)
		require.Equal(t, "d", meta.DatasetName)
		require.Equal(t, "0a1b2c3d4e5f", meta.RunID)
		require.Equal(t, uint64(7), meta.Seed)
		require.Equal(t, cfg.Hash(), meta.ConfigHash)
		require.True(t, json.Valid(meta.BuilderConfig))
		require.Equal(t, map[string]wire.ModelUsage{"writer": {Requests: 3}}, meta.ModelUsage)
	})

	t.Run("PreviewPartial", func(t *testing.T) {
		t.Parallel()
		r := newRun(wire.ModePreview)
		r.partial = true
		meta := r.metadata()
		require.Equal(t, []string{"p0", "p1", "p2"}, meta.FilePaths["preview"])
		require.NotContains(t, meta.FilePaths, "parquet-files")
		require.Equal(t, wire.RunPartial, meta.Outcome)
	})

	t.Run("NothingCommitted", func(t *testing.T) {
		t.Parallel()
		r := newRun(wire.ModeBuild)
		r.result = Result{}
		meta := r.metadata()
		require.Equal(t, map[string][]string{"parquet-files": {}}, meta.FilePaths, "the key is there, empty")
	})
}
