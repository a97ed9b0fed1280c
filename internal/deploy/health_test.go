package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// llmRunConfig is a config of two LLM columns on model writer served at url (and, when judge
// is not "", an llm-judge column on model judge served at that URL); extra is added to
// writer's model_configs entry.
func llmRunConfig(t *testing.T, url, extra, judge string) *config.Config {
	t.Helper()
	judgeURL := judge
	if judgeURL == "" {
		judgeURL = url // a provider needs an endpoint; no column calls judge
	}
	text := fmt.Sprintf(`
model_providers:
  - {name: stub, endpoint: %q}
  - {name: judges, endpoint: %q}
model_configs:
  - {alias: writer, model: stub-writer, provider: stub%s}
  - {alias: judge, model: stub-judge, provider: judges}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread]}}
  - {name: question, column_type: llm-text, model_alias: writer, prompt: "Ask about {{ topic }}"}
  - {name: answer, column_type: llm-text, model_alias: writer, prompt: "Answer {{ question }}"}
`, url, judgeURL, extra)
	if judge != "" {
		text += `  - name: grade
    column_type: llm-judge
    model_alias: judge
    prompt: "Grade {{ answer }}"
    scores: [{name: accuracy, description: "Is it right?", options: {"0": wrong, "1": right}}]
`
	}
	cfg, err := config.Parse([]byte(text))
	require.NoError(t, err)
	return cfg
}

// runLLM runs cfg in local mode; the context's deadline only keeps a broken run from hanging
// the test, no test asserts how long a run takes.
func runLLM(t *testing.T, cfg *config.Config, started *bool) (*Summary, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	sum, err := Run(ctx, Params{
		Config: cfg, Workers: 2, Out: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		LLM:     llm.Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Run:     lifecycle.Options{Mode: wire.ModeBuild, NumRecords: 20, BufferSize: 10, Seed: 3, DatasetName: "llm"},
		OnStart: func(string, string) { *started = true },
	})
	require.NoError(t, ctx.Err(), "the run ended by itself")
	return sum, err
}

// checks counts the requests of stub that were health checks.
func checks(stub *llmstub.Stub) int {
	n := 0
	for _, r := range stub.Requests() {
		if r.Messages[len(r.Messages)-1].Content == checkPrompt {
			n++
		}
	}
	return n
}

// The user's report: an endpoint that sends its chat completions as text/plain. The run reads
// them, its health check included.
func TestARunReadsJSONSentAsTextPlain(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{ContentType: "text/plain"})})
	var started bool
	sum, err := runLLM(t, llmRunConfig(t, stub.Start(t), "", ""), &started)
	require.NoError(t, err)
	require.Equal(t, wire.RunCompleted, sum.Result.Status)
	require.Equal(t, 20, sum.Result.Rows)
	require.Equal(t, 1, checks(stub), "one health check of writer")
	require.EqualValues(t, 1+2*20, stub.Stats().Completed)
}

// With skip_health_check, an endpoint that answers an HTML page fails the run from the
// workers: after a few attempts of the first cells, not after the patience, naming the
// endpoint and what it sent.
func TestABadReplyFailsTheRun(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{HTML: true})})
	url := stub.Start(t)
	var started bool
	_, err := runLLM(t, llmRunConfig(t, url, ", skip_health_check: true", ""), &started)
	var gen *lifecycle.DatasetGenerationError
	require.ErrorAs(t, err, &gen)
	require.ErrorContains(t, err, url)
	require.ErrorContains(t, err, `model "writer"`)
	require.ErrorContains(t, err, "It works!")
	require.True(t, started)
	require.Zero(t, checks(stub), "skip_health_check skips the check")
	require.Positive(t, stub.Stats().Requests)
}

// Without skip_health_check the same endpoint fails the check: the run does not start and no
// cell asks the model; a healthy model's check passes beside it.
func TestTheHealthCheckFailsBeforeAnythingIsPublished(t *testing.T) {
	t.Parallel()
	bad := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{HTML: true})})
	good := llmstub.New(llmstub.Options{})
	url := bad.Start(t)
	var started bool
	sum, err := runLLM(t, llmRunConfig(t, url, "", good.Start(t)), &started)
	require.Nil(t, sum)
	var hc *HealthCheckError
	require.ErrorAs(t, err, &hc)
	var br *llm.BadReplyError
	require.ErrorAs(t, err, &br)
	require.Equal(t, "writer", br.Model)
	require.Equal(t, url, br.Endpoint)
	require.ErrorContains(t, err, url)
	require.ErrorContains(t, err, "It works!")
	require.NotContains(t, err.Error(), `"judge"`, "the healthy model is not blamed")
	t.Log(err)
	require.False(t, started, "no run was created")
	require.Equal(t, llm.BadReplyAttempts, checks(bad))
	require.EqualValues(t, llm.BadReplyAttempts, bad.Stats().Requests, "only the check asked")
	require.Equal(t, 1, checks(good))
	require.EqualValues(t, 1, good.Stats().Requests)
}

// Only the models the config calls are checked, and not those with skip_health_check.
func TestUsedModels(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
model_configs:
  - {alias: unused, model: a, provider: nvidia}
  - {alias: writer, model: b, provider: nvidia, skip_health_check: true}
  - {alias: vec, model: c, provider: nvidia, inference_parameters: {generation_type: embedding}}
  - {alias: summarizer, model: d, provider: nvidia}
columns:
  - {name: t, column_type: llm-text, model_alias: writer, prompt: "hi"}
  - {name: e, column_type: embedding, model_alias: vec, target_column: t}
  - name: g
    column_type: llm-judge
    model_alias: writer
    prompt: "Grade {{ t }}"
    scores: [{name: q, description: "q", options: {"0": bad, "1": good}}]
profilers:
  - {model_alias: summarizer}
`))
	require.NoError(t, err)
	var got []string
	for _, m := range usedModels(cfg) {
		got = append(got, fmt.Sprintf("%s skip=%v", m.Alias, m.SkipHealthCheck))
	}
	require.Equal(t, []string{"writer skip=true", "vec skip=false", "summarizer skip=false"}, got)
}

// check-models names a model that answers what is not a chat completion, its endpoint and
// what came back, on one line, beside the healthy model's line.
func TestCheckModelsReportsABadReply(t *testing.T) {
	t.Parallel()
	bad := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Empty: true})})
	good := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{ContentType: "text/plain"})})
	url := bad.Start(t)
	var out strings.Builder
	err := CheckModels(context.Background(), llmRunConfig(t, url, "", good.Start(t)), nil, time.Minute, &out)
	require.ErrorIs(t, err, ErrModelsUnavailable)
	t.Log(out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], "FAIL  writer "), lines[0])
	require.Contains(t, lines[0], url)
	require.Contains(t, lines[0], "the body is empty")
	require.Equal(t, 1, strings.Count(lines[0], url), "the endpoint is named once: %s", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "ok    judge "), lines[1])
	require.EqualValues(t, llm.BadReplyAttempts, bad.Stats().Requests)
}

// Keys are read on each worker: when the workers are other processes and this one lacks a
// model's key, the endpoint's 401 says nothing about the run, and the check lets it pass.
// In local mode this process is the workers, and the 401 fails the check.
func TestTheHealthCheckWithoutTheKey(t *testing.T) {
	t.Parallel()
	for _, distributed := range []bool{true, false} {
		t.Run(fmt.Sprintf("distributed=%v", distributed), func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: 401})})
			cfg, err := config.Parse(fmt.Appendf(nil, `
model_providers:
  - {name: stub, endpoint: %q, api_key: ROWFORGE_TEST_KEY_NOT_SET_ANYWHERE}
model_configs:
  - {alias: writer, model: stub-writer, provider: stub}
columns:
  - {name: q, column_type: llm-text, model_alias: writer, prompt: "hi"}
`, stub.Start(t)))
			require.NoError(t, err)
			err = checkModelsBeforeRun(context.Background(), cfg, nil, llm.Options{}, distributed, slog.New(slog.DiscardHandler))
			if distributed {
				require.NoError(t, err)
				return
			}
			var refused *llm.RequestError
			require.ErrorAs(t, err, &refused)
			require.Equal(t, 401, refused.Status)
		})
	}
}
