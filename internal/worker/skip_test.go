package worker_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/config"
)

// skipConfig: review (llm-text) is skipped for basic-tier rows; summary (llm-text) reads it
// and is skipped with it (propagation); note (expression) reads it but does not propagate;
// tag (expression) has its own skip and value.
const skipConfig = `
model_configs: [{alias: m, model: stub-model, provider: stub}]
columns:
  - {name: tier, column_type: sampler, sampler_type: category, params: {values: [basic, pro]}}
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - name: review
    column_type: llm-text
    model_alias: m
    prompt: "Review for a {{ tier }} customer"
    skip: {when: "{{ tier == 'basic' }}", value: "n/a"}
  - {name: summary, column_type: llm-text, model_alias: m, prompt: "Summarize {{ review }}"}
  - {name: note, column_type: expression, expr: "note on {{ review }}", propagate_skip: false}
  - {name: tag, column_type: expression, dtype: int, expr: "{{ 1 if n > 0.5 else 2 }}", skip: {when: "{{ n <= 0.5 }}", value: "-1"}}
`

// runOnStub runs one group of n rows of the config (model "m" on provider "stub") against the
// stand-in endpoint.
func runOnStub(t *testing.T, src string, opts llmstub.Options, n int) (scheduler.Outcome, *llmstub.Stub) {
	t.Helper()
	cfg, err := config.Parse([]byte(src))
	require.NoError(t, err)
	stub := llmstub.New(opts)
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	pool, err := llm.NewPool(cfg, llm.Resolve(nil, []*config.Provider{{Name: "stub", Endpoint: url}}), nil,
		llm.Options{Patience: time.Minute, HTTPClient: client})
	require.NoError(t, err)
	sched, err := worker.Compile(cfg, pool, nil, 8)
	require.NoError(t, err)
	seeds, err := generators.NewSamplers(cfg.SamplerColumns(), nil, generators.SamplerOptions{})
	require.NoError(t, err)
	buf, err := seeds.Draw(3, 0, n)
	require.NoError(t, err)
	return sched.Run(t.Context(), buf), stub
}

func TestSkipMakesNoModelCall(t *testing.T) {
	t.Parallel()
	const n = 200
	out, stub := runOnStub(t, skipConfig, llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return "fine" }}, n)
	require.Equal(t, scheduler.Completed, out.Status, "%v", out.Err)
	require.Equal(t, n, out.Rows, "skipping drops no row")
	f := out.Frame
	basic := 0
	for i, tier := range f.Column("tier").Strings {
		review, summary, note := f.Column("review"), f.Column("summary"), f.Column("note")
		if tier == "basic" {
			basic++
			require.Equal(t, "n/a", review.Strings[i], "a skipped cell holds skip.value")
			require.True(t, summary.IsNull(i), "a column reading a skipped one is skipped too, null without a value of its own")
			require.Equal(t, "note on n/a", note.Strings[i], "propagate_skip: false generates it from the skip value")
		} else {
			require.Equal(t, "fine", review.Strings[i])
			require.Equal(t, "fine", summary.Strings[i])
			require.Equal(t, "note on fine", note.Strings[i])
		}
		want := int64(1)
		if f.Column("n").Floats[i] <= 0.5 {
			want = -1 // "-1" as the column's dtype
		}
		require.Equal(t, want, f.Column("tag").Ints[i])
	}
	require.NotZero(t, basic)
	require.Len(t, stub.Requests(), 2*(n-basic), "no request for a skipped cell")
	for _, req := range stub.Requests() {
		require.NotContains(t, req.Messages[len(req.Messages)-1].Content, "basic")
		require.False(t, strings.Contains(req.Messages[len(req.Messages)-1].Content, "n/a"))
	}
	require.Equal(t, basic, out.Columns["review"].Skipped)
	require.Equal(t, basic, out.Columns["summary"].Skipped)
	require.Equal(t, n-basic, out.Columns["review"].Generated)
	require.Zero(t, out.Columns["note"].Skipped)
	require.Zero(t, out.Columns["review"].Failed, "a skip is no failure")
}
