package config

import "fmt"

// checkProfilers checks `profilers`, Data Designer's judge-score profilers: each
// {model_alias, summary_score_sample_size (≥ 1, default 20)}. They analyse a finished dataset;
// rowforge accepts them so that Data Designer's configs load, and does not run them.
func checkProfilers(v any, p *problems) {
	if isEmpty(v) {
		return
	}
	list, ok := v.([]any)
	if !ok {
		p.add("", "profilers", "want a list of profilers, got %s", describe(v))
		return
	}
	for i, e := range list {
		key := fmt.Sprintf("profilers[%d]", i)
		m, ok := e.(map[string]any)
		if !ok {
			p.add("", key, "want a profiler mapping, got %s", describe(e))
			continue
		}
		f := newFields(p, "", key+".", "key", m)
		f.str("model_alias", true)
		if n, ok := f.int("summary_score_sample_size", false); ok && n < 1 {
			f.errorf("summary_score_sample_size", "must be at least 1, got %d", n)
		}
		f.unknown()
	}
}
