package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// ErrModelsUnavailable is returned by CheckModels when a model did not answer.
var ErrModelsUnavailable = errors.New("some models did not answer")

// checkPrompt is what a check asks a chat model.
const checkPrompt = "Reply with the single word OK."

// CheckModels asks each model of cfg for one short reply (an embedding model for one
// embedding), all at once, on the provider a run would use, and prints a line per model in
// config order. It does not retry past patience: a check should be quick.
func CheckModels(ctx context.Context, cfg *config.Config, fromFile []wire.Provider, patience time.Duration, out io.Writer) error {
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(fromFile))
	if len(cfg.Models) == 0 {
		fmt.Fprintln(out, "the config has no model_configs: nothing to check")
		return nil
	}
	lines := make([]string, len(cfg.Models))
	failed := make([]bool, len(cfg.Models))
	var wg sync.WaitGroup
	for i, mc := range cfg.Models {
		p := providers[mc.Provider]
		if p == nil {
			failed[i] = true
			lines[i] = fmt.Sprintf("FAIL  %-20s %s: unknown provider %q", mc.Alias, mc.Model, mc.Provider)
			continue
		}
		// It reports every failure itself: the model's own warning would say it twice.
		m := llm.NewModel(mc, p, 1, llm.Options{Patience: patience, Logger: slog.New(slog.DiscardHandler)})
		wg.Go(func() {
			start := time.Now()
			res, err := checkModel(ctx, m, mc)
			if err != nil {
				failed[i] = true
				lines[i] = fmt.Sprintf("FAIL  %-20s %v", mc.Alias, namedModelError(m, err))
				return
			}
			lines[i] = fmt.Sprintf("ok    %-20s %s at %s: %s, %s", mc.Alias, mc.Model, p.Endpoint, time.Since(start).Round(time.Millisecond), res)
		})
	}
	wg.Wait()
	n := 0
	for i, l := range lines {
		fmt.Fprintln(out, l)
		if failed[i] {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d of %d: %w", n, len(cfg.Models), ErrModelsUnavailable)
	}
	return nil
}

// checkModel asks m, the model of mc, for one short reply (for an embedding model, one
// embedding) and describes what came back.
func checkModel(ctx context.Context, m *llm.Model, mc *config.Model) (string, error) {
	usage := &llm.Usage{}
	ctx = llm.WithUsage(ctx, usage)
	if mc.Params.GenerationType == config.GenerationEmbedding {
		vec, err := m.Embed(ctx, "health check")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d tokens, an embedding of %d dimensions", usage.Snapshot()[mc.Alias].PromptTokens, len(vec)), nil
	}
	reply, err := m.Complete(ctx, llm.Request{Prompt: checkPrompt})
	if err != nil {
		return "", err
	}
	u := usage.Snapshot()[mc.Alias]
	return fmt.Sprintf("%d+%d tokens, reply %q", u.PromptTokens, u.CompletionTokens, clip(reply.Content, 40)), nil
}

// namedModelError is err naming the model and its endpoint: the errors of package llm do
// already, others (a cancellation, a timeout) are prefixed.
func namedModelError(m *llm.Model, err error) error {
	var bad *llm.BadReplyError
	var refused *llm.RequestError
	var unavailable *llm.UnavailableError
	if errors.As(err, &bad) || errors.As(err, &refused) || errors.As(err, &unavailable) {
		return err
	}
	return fmt.Errorf("model %q (%s) at %s: %w", m.Alias(), m.Name(), m.Endpoint(), err)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
