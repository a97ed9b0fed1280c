package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

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
