package lifecycle

import (
	"context"
	"fmt"
	"os"

	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// openSeed opens the run's seed dataset (unless the caller did) and records what workers and
// a resumed controller need of it. A resumed run finds the seed where the run's controller
// found it and refuses one whose columns changed meanwhile.
func (r *run) openSeed(cfg *config.Config, opts *Options) error {
	ds := opts.SeedData
	base := opts.SeedBaseDir
	if base == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		base = wd
	}
	if ds == nil {
		var err error
		if ds, err = seeddata.Open(context.Background(), cfg.Seed, seeddata.Options{BaseDir: base}); err != nil {
			return &config.Error{Field: "seed_config.source", Msg: "cannot read the seed dataset", Err: err}
		}
	}
	info := &wire.SeedInfo{BaseDir: base, Rows: ds.Len()}
	if opts.seedRows > 0 && opts.seedRows != ds.Len() {
		return &config.Error{Field: "seed_config.source", Msg: fmt.Sprintf(
			"the seed dataset has %d rows (selected) where the run started with %d: it was changed, and the groups still to generate would get other rows", ds.Len(), opts.seedRows)}
	}
	for _, c := range ds.Columns() {
		col := cfg.Column(c.Name)
		if col == nil || col.Type != config.TypeSeedDataset || col.Output != c.Type {
			return &config.Error{Field: "seed_config.source", Msg: fmt.Sprintf(
				"the seed dataset's column %q (%s) is not the one the config was read with: was the seed changed?", c.Name, c.Type)}
		}
		info.Columns = append(info.Columns, wire.SeedColumn{Name: c.Name, Type: c.Type.String()})
	}
	if len(info.Columns) != len(cfg.SeedDatasetColumns()) {
		return &config.Error{Field: "seed_config.source", Msg: "the seed dataset's columns are not the ones the config was read with: was the seed changed?"}
	}
	r.seedRows, r.seedInfo = ds.Reader(opts.Seed), info
	return nil
}

// withSeedRows puts group g's seed dataset rows before its sampler columns.
func (r *run) withSeedRows(ctx context.Context, g int, samplers *frame.Frame) (*frame.Frame, error) {
	rows, err := r.seedRows.Rows(ctx, int64(g)*int64(r.plan.BufferSize), samplers.Len())
	if err != nil {
		return nil, fmt.Errorf("seed dataset rows of group %d: %w", g, err)
	}
	for _, c := range samplers.Columns() {
		if err := rows.Put(c); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
