package processors

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

func TestDropColumns(t *testing.T) {
	t.Parallel()
	in := testGroup(t)
	before := columns(in)
	p := one(t, "processors: [{name: cleanup, processor_type: drop_columns, column_names: ['tmp_*', ok]}]")

	res, err := process(t, p, in)
	require.NoError(t, err)
	require.Equal(t, []column{
		col("name", frame.String, "ann", "bob", nil),
		col("n", frame.Int, int64(1), int64(2), nil),
		col("score", frame.Float, 0.5, 2.0, nil),
	}, columns(res.Frame))
	require.Len(t, res.Side, 1)
	require.Equal(t, DroppedColumnsDir, res.Side[0].Dir)
	require.Equal(t, []column{ // in the group's column order
		col("ok", frame.Bool, false, true, nil),
		col("tmp_a", frame.String, "a0", "a1", "a2"),
		col("tmp_b", frame.String, "b0", "b1", "b2"),
	}, columns(res.Side[0].Frame))
	require.Equal(t, before, columns(in), "the input is not modified")

	// A pattern that matches nothing in this group (an earlier processor dropped it) is fine.
	res, err = process(t, p, res.Frame)
	require.NoError(t, err)
	require.Len(t, res.Frame.Columns(), 3)
	require.Empty(t, res.Side, "nothing dropped, nothing preserved")
}

func TestDropColumnsNotPreserved(t *testing.T) {
	t.Parallel()
	p := one(t, "processors: [{name: cleanup, processor_type: drop_columns, column_names: ['tmp_?'], preserve_dropped_columns: false}]")
	res, err := process(t, p, testGroup(t))
	require.NoError(t, err)
	require.Empty(t, res.Side)
	var names []string
	for _, c := range res.Frame.Columns() {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"name", "n", "score", "ok"}, names)
}

func TestDropColumnsImplicit(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: "b[1]", column_type: sampler, sampler_type: uuid, drop: true}
`))
	require.NoError(t, err)
	procs, err := FromConfig(cfg, nil)
	require.NoError(t, err)
	require.Len(t, procs, 1)
	in := makeFrame(t, col("a", frame.String, "x"), col("b[1]", frame.String, "y"))
	res, err := procs[0].Process(context.Background(), 0, in)
	require.NoError(t, err)
	require.Equal(t, []column{col("a", frame.String, "x")}, columns(res.Frame))
	require.Equal(t, []column{col("b[1]", frame.String, "y")}, columns(res.Side[0].Frame), "a name with glob characters is dropped by its name")
}

func TestDropColumnsCancelled(t *testing.T) {
	t.Parallel()
	p := one(t, "processors: [{name: cleanup, processor_type: drop_columns, column_names: [ok]}]")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Process(ctx, 0, testGroup(t))
	require.ErrorIs(t, err, context.Canceled)
}
