package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/profile"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// SummarizeJudges runs the config's judge-score profilers on the finished dataset in dir:
// each asks its model to summarize every score of the llm-judge columns, and the profile is
// saved again with the summaries. It is a no-op without profilers or judge columns. The
// models are called from this process, with this process's keys.
func SummarizeJudges(ctx context.Context, cfg *config.Config, dir string, fromFile []wire.Provider, patience time.Duration) error {
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(fromFile))
	for i, pr := range cfg.Profilers {
		mc := cfg.Model(pr.ModelAlias)
		if mc == nil {
			return fmt.Errorf("profilers[%d]: unknown model_alias %q", i, pr.ModelAlias)
		}
		p := providers[mc.Provider]
		if p == nil {
			return fmt.Errorf("profilers[%d]: model %q: unknown provider %q", i, mc.Alias, mc.Provider)
		}
		a, err := profile.Build(ctx, dir, profile.Options{SampleSize: pr.SampleSize})
		if err != nil {
			return err
		}
		if len(a.ColumnProfiles) == 0 {
			return nil
		}
		profile.Summarize(ctx, a, llm.NewModel(mc, p, mc.Params.MaxParallelRequests, llm.Options{Patience: patience}))
		if err := profile.Save(dir, a); err != nil {
			return err
		}
	}
	return nil
}
