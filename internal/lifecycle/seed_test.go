package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

const seededConfig = `
seed_config:
  source: {seed_type: local, path: tickets.csv}
  sampling_strategy: shuffle
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 10}}
  - {name: line, column_type: expression, expr: "{{ product }}#{{ ticket }} {{ n }}"}
`

// seeded writes a seed of 130 tickets in a folder and parses seededConfig from there, as the
// controller command does; it returns the config and the folder.
func seeded(t *testing.T) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("ticket,product\n")
	for i := range 130 {
		fmt.Fprintf(&b, "%d,p%d\n", i, i%4)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tickets.csv"), []byte(b.String()), 0o644))
	var ds *seeddata.Dataset
	cfg, err := config.Parse([]byte(seededConfig), seeddata.Loader(dir, &ds))
	require.NoError(t, err)
	require.NotNil(t, ds)
	return cfg, dir
}

// A resumed controller reads the seed again from where the run's controller found it (the
// record keeps the folder), and the groups it prepares again get the rows an uninterrupted run
// gave them.
func TestResumeReadsTheSeedAgain(t *testing.T) {
	t.Parallel()
	cfg, dir := seeded(t)
	opts := lifecycle.Options{NumRecords: 600, BufferSize: 50, MaxConcurrentRowGroups: 2, Seed: 5,
		DatasetName: "seeded", SeedBaseDir: dir}

	ref := setup(t, 2)
	want := sinks.NewMemory()
	t.Cleanup(want.Release)
	_, err := ref.ctrl.Run(context.Background(), cfg, opts, want)
	require.NoError(t, err)

	b := setup(t, 2)
	sink := newCountingSink(t)
	opts.RunID = lifecycle.NewRunID()
	ended := 0
	b.ctrl.OnGroupEnding(func(int) error {
		if ended++; ended == 4 {
			return lifecycle.ErrStop
		}
		return nil
	})
	_, err = b.ctrl.Run(context.Background(), cfg, opts, sink)
	require.ErrorIs(t, err, lifecycle.ErrStop)

	other := lifecycle.New(b.nc, b.js, wire.DefaultLayout(), b.res, nil)
	res, err := other.Resume(context.Background(), opts.RunID, sink)
	require.NoError(t, err)
	require.Equal(t, wire.RunCompleted, res.Status)
	requireSameGroups(t, want, sink.Memory)
	fs := frames(t, sink.Memory)
	var tickets []int64
	for g := range len(fs) {
		require.Equal(t, []string{"ticket", "product", "n", "line"}, columnNames(fs[g].Columns()), "group %d", g)
		tickets = append(tickets, fs[g].Column("ticket").Ints...)
	}
	for pass := 0; pass+130 <= len(tickets); pass += 130 {
		require.Equal(t, seq(130), slices.Sorted(slices.Values(tickets[pass:pass+130])), "each pass through the seed takes each row once")
	}
}

func seq(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func columnNames(cols []*frame.Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name)
	}
	return out
}
