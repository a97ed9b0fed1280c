package deploy

import (
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// redactRun takes the literal keys out of what a run hashes, writes and publishes: cfg's Raw
// and Source (so config_hash, builder_config.json and the run record carry markers) and the
// providers file's entries for the record. It returns the literals, which stay in this
// process (local mode's workers), and the providers to record. cfg's typed fields and the
// caller's providers keep the literals for the controller's own model calls (health check,
// judges).
func redactRun(cfg *config.Config, providers []wire.Provider) (secrets.Store, []wire.Provider) {
	fromConfig := secrets.Redact(cfg)
	recorded, fromFile := secrets.RedactProviders(providers)
	return secrets.Merge(fromConfig, fromFile), recorded
}

// LoadSecrets returns a worker's resolver of redacted keys: the secrets file at path ("" for
// none), then the environment.
func LoadSecrets(path string) (*secrets.Resolver, error) {
	r := &secrets.Resolver{}
	if path == "" {
		return r, nil
	}
	f, err := secrets.LoadFile(path)
	if err != nil {
		return nil, &FlagError{Err: err}
	}
	r.File = f
	return r, nil
}
