package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProfilers(t *testing.T) {
	t.Parallel()
	const cols = "\ncolumns: [{name: a, column_type: sampler, sampler_type: uuid}]"
	cfg, err := Parse([]byte("model_configs: [{alias: m, model: x, provider: openai}]\nprofilers: [{model_alias: m}, {model_alias: m, summary_score_sample_size: 5}]" + cols))
	require.NoError(t, err)
	require.Equal(t, []*Profiler{{ModelAlias: "m", SampleSize: DefaultSummarySampleSize}, {ModelAlias: "m", SampleSize: 5}}, cfg.Profilers)

	_, err = Parse([]byte("model_configs: [{alias: judge, model: x, provider: openai}]\nprofilers: [{model_alias: judg}]" + cols))
	require.ErrorContains(t, err, `profilers[0].model_alias: unknown model_alias "judg": did you mean "judge"?`)
	_, err = Parse([]byte("model_configs: [{alias: m, model: x, provider: openai}]\nprofilers: [{model_alias: m, summary_score_sample_size: 0}]" + cols))
	require.ErrorContains(t, err, "profilers[0].summary_score_sample_size: must be at least 1")
}
