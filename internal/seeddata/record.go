package seeddata

import (
	"context"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Recorded is the config.Option that parses a run's recorded config with the seed columns its
// controller read (info is the record's SeedData; nil when the run has no seed): workers and a
// resumed controller parse the config without reading the seed.
func Recorded(info *wire.SeedInfo) config.Option {
	var cols []config.SeedColumn
	if info != nil {
		for _, c := range info.Columns {
			t, _ := frame.ParseType(c.Type)
			cols = append(cols, config.SeedColumn{Name: c.Name, Type: t})
		}
	}
	return config.WithSeedColumns(config.KnownSeedColumns(cols))
}

// Loader returns the config.Option that learns a seed's columns by opening it (relative paths
// from base, "" the working directory), and the place where the opened dataset is left for
// the run to read.
func Loader(base string, opened **Dataset) config.Option {
	return config.WithSeedColumns(func(sc *config.SeedConfig) ([]config.SeedColumn, error) {
		d, err := Open(context.Background(), sc, Options{BaseDir: base})
		if err != nil {
			return nil, err
		}
		*opened = d
		return d.Columns(), nil
	})
}
