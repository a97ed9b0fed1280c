package config

import (
	"fmt"
	"slices"
)

// Profiler is a `profilers` entry: Data Designer's judge-score profiler, which asks the model
// ModelAlias to summarize each score of the llm-judge columns from SampleSize rows' reasoning.
type Profiler struct {
	ModelAlias string
	SampleSize int
}

// DefaultSummarySampleSize is Data Designer's summary_score_sample_size.
const DefaultSummarySampleSize = 20

// parseProfilers decodes `profilers`.
func parseProfilers(v any, p *problems) []*Profiler {
	var out []*Profiler
	for i, m := range sectionMappings(v, "profilers", "want a list of profilers", "want a profiler mapping", p) {
		f := newFields(p, "", fmt.Sprintf("profilers[%d].", i), "key", m)
		pr := &Profiler{SampleSize: DefaultSummarySampleSize}
		pr.ModelAlias, _ = f.str("model_alias", true)
		if n, ok := f.intAtLeast("summary_score_sample_size", 1); ok {
			pr.SampleSize = n
		}
		f.unknown()
		out = append(out, pr)
	}
	return out
}

// checkProfilerModels checks that each profiler names a model of the config.
func checkProfilerModels(cfg *Config, p *problems) {
	aliases := namesOf(cfg.Models, func(m *Model) string { return m.Alias })
	for i, pr := range cfg.Profilers {
		if pr.ModelAlias == "" || slices.Contains(aliases, pr.ModelAlias) {
			continue
		}
		p.add("", fmt.Sprintf("profilers[%d].model_alias", i), "%s", unknownName("model_alias", pr.ModelAlias, aliases, "model_configs"))
	}
}
