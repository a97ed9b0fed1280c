package deploy

import (
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
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

// LoadProviders reads a providers file for a run's record; "" reads nothing.
func LoadProviders(path string) ([]wire.Provider, error) {
	if path == "" {
		return nil, nil
	}
	ps, err := llm.LoadProviders(path)
	if err != nil {
		return nil, &FlagError{Err: err}
	}
	out := make([]wire.Provider, len(ps))
	for i, p := range ps {
		out[i] = wire.Provider{Name: p.Name, Endpoint: p.Endpoint, ProviderType: p.ProviderType, APIKey: p.APIKey,
			ExtraHeaders: p.ExtraHeaders, ExtraBody: p.ExtraBody}
	}
	return out, nil
}
