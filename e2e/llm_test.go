package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
)

// llmDataset is a config whose LLM columns depend on each other, served by endpoint. Its
// model skips the health check before a run, so that the endpoint serves only the cells
// (check-models checks it all the same).
func llmDataset(t *testing.T, endpoint string, capacity int) string {
	return writeConfig(t, fmt.Sprintf(`
model_providers:
  - {name: stub, endpoint: "%s", api_key: STUB_API_KEY}
model_configs:
  - {alias: writer, model: w, provider: stub, skip_health_check: true, inference_parameters: {max_parallel_requests: %d, temperature: 0.5}}
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: question, column_type: llm-text, model_alias: writer, prompt: "Ask about {{ topic }}"}
  - name: facts
    column_type: llm-structured
    model_alias: writer
    prompt: "Facts for {{ question }}"
    output_format: {type: object, properties: {calories: {type: integer}}, required: [calories]}
  - {name: answer, column_type: llm-text, model_alias: writer, prompt: "{{ facts.calories }} kcal. Answer {{ question }}"}
  - name: grade
    column_type: llm-judge
    model_alias: writer
    prompt: "Grade {{ answer }}"
    scores:
      - {name: accuracy, description: "Is it right?", options: {"0": wrong, "1": right}}
`, endpoint, capacity))
}

// An LLM dataset on real processes: every row is generated, the endpoint never sees more than
// max_parallel_requests across the two workers, and metadata.json and the summary count what
// the endpoint served.
func TestLLMColumnsOnTwoWorkers(t *testing.T) {
	t.Parallel()
	const n, capacity = 600, 8
	stub := llmstub.New(llmstub.Options{})
	cfg := llmDataset(t, stub.Start(t), capacity)
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2)
	res := controller(t, "", "run", "-f", cfg, "-n", fmt.Sprint(n), "--buffer-size", "100", "--name", "llm",
		"--nats-url", srv.URL)
	requireCode(t, 0, res, "run")

	st := stub.Stats()
	require.EqualValues(t, 4*n, st.Completed)
	require.LessOrEqual(t, st.PeakInFlight, int64(capacity))
	ds := readDataset(t, filepath.Join(out, "llm"))
	require.Equal(t, n, ds.rows())
	u := ds.Meta.ModelUsage["writer"]
	require.EqualValues(t, 4*n, u.Requests)
	require.Equal(t, st.PromptTokens, u.PromptTokens)
	require.Equal(t, st.CompletionTokens, u.CompletionTokens)
	require.Contains(t, res.Stderr, fmt.Sprintf("model writer: %d requests", 4*n))
	for _, tb := range ds.Tables {
		for _, g := range tb.column(t, "grade") {
			var doc map[string]map[string]any
			require.NoError(t, json.Unmarshal([]byte(g.(string)), &doc))
			require.Contains(t, doc, "accuracy")
		}
	}
	for _, r := range stub.Requests() {
		require.Equal(t, 0.5, *r.Temperature)
	}
	stopGracefully(t, append(ws, sinkd)...)
}

func TestCheckModels(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	res := controller(t, "", "check-models", "-f", llmDataset(t, stub.Start(t), 4))
	requireCode(t, 0, res, "check-models")
	require.Contains(t, res.Stdout, "ok    writer")

	down := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: 503})})
	res = controller(t, "", "check-models", "-f", llmDataset(t, down.Start(t), 4), "--patience", "200ms")
	requireCode(t, 1, res, "check-models of a model that only fails")
	require.True(t, strings.HasPrefix(res.Stdout, "FAIL  writer"), res.Stdout)
	require.Contains(t, res.Stdout, "patience")
}

// kill -9 of the worker in the middle of a group of LLM cells: once the group is redelivered
// (after its AckWait), the restarted worker takes the cells the dead one had kept and requests
// only the rest. A prompt asked twice is one that was in flight at the kill (or answered in
// the instant before its cell was kept): at most the cap of them, not the hundreds done.
func TestKill9WorkerKeepsCompletedCells(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Parallel()
	const n, capacity = 300, 8
	stub := llmstub.New(llmstub.Options{Latency: 5 * time.Millisecond})
	cfg := chainConfig(t, stub.Start(t), capacity, 2)
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 1)
	ctrl := testbin.StartProcess(t, testbin.Binary(t, "controller"), []string{"run", "-f", cfg, "-n", fmt.Sprint(n),
		"--buffer-size", fmt.Sprint(n), "--name", "kept", "--nats-url", srv.URL}, nil)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, stub.Wait(ctx, func(s llmstub.Stats) bool { return s.Completed >= n/2 }))
	ws[0].Kill()
	before := stub.Stats().Completed
	require.Less(t, before, int64(2*n), "killed mid-group")
	ws[0].Restart(t)
	require.NoError(t, waitExit(t, ctrl, runTimeout, connect(t, srv.URL)), ctrl.Output.String())

	asked := map[string]int{}
	for _, r := range stub.Requests() {
		asked[r.Messages[len(r.Messages)-1].Content]++
	}
	require.Len(t, asked, 2*n, "every cell's prompt was asked")
	twice := 0
	for _, c := range asked {
		twice += c - 1
	}
	require.LessOrEqual(t, twice, 2*capacity, "%d prompts asked again after the kill, of %d answered before it", twice, before)
	require.Contains(t, ws[0].Output.String(), "resuming a group from its kept cells")
	ds := readDataset(t, filepath.Join(out, "kept"))
	require.Equal(t, n, ds.rows())
	stopGracefully(t, ws[0], sinkd)
}

// chainConfig writes a config of an id and columns (2 or 3) llm-text columns, each reading the
// one before — question, answer, critique — on one model of endpoint capped at capacity.
func chainConfig(t *testing.T, endpoint string, capacity, columns int) string {
	t.Helper()
	chain := []string{
		`  - {name: question, column_type: llm-text, model_alias: writer, prompt: "Ask {{ id }}"}`,
		`  - {name: answer, column_type: llm-text, model_alias: writer, prompt: "Answer {{ id }}: {{ question }}"}`,
		`  - {name: critique, column_type: llm-text, model_alias: writer, prompt: "Critique {{ answer }}"}`,
	}
	return writeConfig(t, fmt.Sprintf(`
model_providers:
  - {name: stub, endpoint: "%s"}
model_configs:
  - {alias: writer, model: w, provider: stub, skip_health_check: true, inference_parameters: {max_parallel_requests: %d}}
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
%s
`, endpoint, capacity, strings.Join(chain[:columns], "\n")))
}
