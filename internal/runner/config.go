package runner

import (
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
)

// LoadConfig reads a config file. A seed dataset it names is opened, its relative paths from
// the working directory as Data Designer resolves them, so that its columns join the config's
// and a missing or unreadable seed is a config error before anything is created; the run then
// reads the dataset returned (nil without a seed_config).
func LoadConfig(path string) (*config.Config, *seeddata.Dataset, error) {
	var ds *seeddata.Dataset
	cfg, err := config.Load(path, seeddata.Loader("", &ds))
	if err != nil {
		return nil, nil, err
	}
	return cfg, ds, nil
}
