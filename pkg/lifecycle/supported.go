package lifecycle

import (
	"fmt"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
)

// CheckSupported rejects what the config can declare but the controller does not run yet, so
// that nothing a user wrote is silently ignored. Processors parse and validate (pkg/config,
// pkg/processors) but the PRE_BATCH and POST_BATCH stages are not wired into the controller:
// until they are, a config that declares one is refused. The implicit drop of `drop: true`
// columns is done by the controller itself (see postBatch).
func CheckSupported(cfg *config.Config) error {
	var names []string
	for _, p := range cfg.Processors {
		if !p.Implicit {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		return &config.Error{Field: "processors", Msg: fmt.Sprintf(
			"processors (%s) are validated but not run by this version yet", strings.Join(names, ", "))}
	}
	return nil
}
