package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/secrets"
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

// HealthCheckTimeout bounds the check of each model before a run; HealthCheckPatience is how
// long it retries a model that answers only errors (429, 5xx, timeouts).
const (
	HealthCheckTimeout  = 30 * time.Second
	HealthCheckPatience = 10 * time.Second
)

// HealthCheckError is a run that did not start because models failed the check before its
// first group: nothing was published. Err joins the models' errors, each naming its model
// and endpoint.
type HealthCheckError struct{ Err error }

func (e *HealthCheckError) Error() string {
	return fmt.Sprintf("health check failed, the run did not start (skip_health_check: true on a model skips its check): %v", e.Err)
}

func (e *HealthCheckError) Unwrap() error { return e.Err }

// checkModelsBeforeRun asks each model the run will call (its columns' and its profilers')
// for one short reply, all at once, unless the model has skip_health_check: a model that
// answers what is not a chat completion, refuses, or cannot be reached fails the run before
// anything is published (*HealthCheckError) instead of after a few attempts of every cell.
// opts' backoff and HTTP client are used; its patience is cut to HealthCheckPatience. log
// gets what passed (at debug level) and what was skipped.
// distributed says whether the workers are other processes: a model whose key this process
// does not have (its api_key variable is unset here) and that answers 401 or 403 then passes
// with a warning, as the workers read their own keys.
func checkModelsBeforeRun(ctx context.Context, cfg *config.Config, fromFile []wire.Provider, opts llm.Options, distributed bool, log *slog.Logger) error {
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(fromFile))
	used := usedModels(cfg)
	errs := make([]error, len(used))
	if opts.Patience <= 0 || opts.Patience > HealthCheckPatience {
		opts.Patience = HealthCheckPatience
	}
	if opts.MaxBackoff <= 0 || opts.MaxBackoff > HealthCheckPatience/5 {
		opts.MaxBackoff = HealthCheckPatience / 5 // retries until the patience, not long past it
	}
	opts.Observer = nil
	opts.Logger = slog.New(slog.DiscardHandler) // the check reports every failure itself
	var wg sync.WaitGroup
	for i, mc := range used {
		if mc.SkipHealthCheck {
			log.Debug("health check skipped", "model", mc.Alias)
			continue
		}
		p := providers[mc.Provider]
		if p == nil {
			continue // the workers report it, naming the known providers
		}
		m := llm.NewModel(mc, p, 1, opts)
		wg.Go(func() {
			cctx, cancel := context.WithTimeoutCause(ctx, HealthCheckTimeout, fmt.Errorf("no reply within the check's %s", HealthCheckTimeout))
			defer cancel()
			start := time.Now()
			res, err := checkModel(cctx, m, mc)
			var refused *llm.RequestError
			switch {
			case err == nil:
				log.Debug("health check passed", "model", mc.Alias, "endpoint", p.Endpoint, "took", time.Since(start).Round(time.Millisecond), "got", res)
			case ctx.Err() != nil:
				errs[i] = context.Cause(ctx)
			case distributed && p.APIKey != "" && llm.APIKey(p) == "" && errors.As(err, &refused) && (refused.Status == 401 || refused.Status == 403):
				log.Warn("health check inconclusive: the endpoint wants a key this machine does not have (the workers read their own)",
					"model", mc.Alias, "endpoint", p.Endpoint, "api_key", secrets.Display(p.APIKey), "err", err)
			default:
				errs[i] = namedModelError(m, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &HealthCheckError{Err: err}
	}
	return nil
}

// usedModels are the models cfg's columns and profilers call, in model_configs order.
func usedModels(cfg *config.Config) []*config.Model {
	used := map[string]bool{}
	for _, c := range cfg.Columns {
		if c.LLM != nil && c.LLM.ModelAlias != "" {
			used[c.LLM.ModelAlias] = true
		}
	}
	for _, pr := range cfg.Profilers {
		used[pr.ModelAlias] = true
	}
	var out []*config.Model
	for _, mc := range cfg.Models {
		if used[mc.Alias] {
			out = append(out, mc)
		}
	}
	return out
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
