package runner

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

// LoadProviders reads a providers file for a run's record; "" reads nothing.
func LoadProviders(path string) ([]wire.Provider, error) {
	if path == "" {
		return nil, nil
	}
	ps, err := llm.LoadProviders(path)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	out := make([]wire.Provider, len(ps))
	for i, p := range ps {
		out[i] = wire.Provider{Name: p.Name, Endpoint: p.Endpoint, ProviderType: p.ProviderType, APIKey: p.APIKey,
			ExtraHeaders: p.ExtraHeaders, ExtraBody: p.ExtraBody}
	}
	return out, nil
}

// ErrModelsUnavailable is returned by CheckModels when a model did not answer.
var ErrModelsUnavailable = fmt.Errorf("some models did not answer")

// CheckModels asks each model of cfg for one short reply, on the provider a run would use,
// and prints a line per model. It does not retry past patience: a check should be quick.
func CheckModels(ctx context.Context, cfg *config.Config, fromFile []wire.Provider, patience time.Duration, out io.Writer) error {
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(fromFile))
	if len(cfg.Models) == 0 {
		fmt.Fprintln(out, "the config has no model_configs: nothing to check")
		return nil
	}
	failed := 0
	for _, mc := range cfg.Models {
		p := providers[mc.Provider]
		if p == nil {
			failed++
			fmt.Fprintf(out, "FAIL  %-20s %s: unknown provider %q\n", mc.Alias, mc.Model, mc.Provider)
			continue
		}
		m := llm.NewModel(mc, p, 1, llm.Options{Patience: patience})
		usage := &llm.Usage{}
		start := time.Now()
		reply, err := m.Complete(llm.WithUsage(ctx, usage), llm.Request{Prompt: "Reply with the single word OK."})
		if err != nil {
			failed++
			fmt.Fprintf(out, "FAIL  %-20s %s at %s: %v\n", mc.Alias, mc.Model, p.Endpoint, err)
			continue
		}
		u := usage.Snapshot()[mc.Alias]
		fmt.Fprintf(out, "ok    %-20s %s at %s: %s, %d+%d tokens, reply %q\n", mc.Alias, mc.Model, p.Endpoint,
			time.Since(start).Round(time.Millisecond), u.PromptTokens, u.CompletionTokens, clip(reply.Content, 40))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d: %w", failed, len(cfg.Models), ErrModelsUnavailable)
	}
	return nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
