package generators_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
)

const llmConfig = `
model_configs:
  - {alias: m, model: stub-model, provider: stub, inference_parameters: {max_parallel_requests: 8}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup]}}
  - name: recipe
    column_type: llm-structured
    model_alias: m
    prompt: "A recipe for {{ topic }}"
    output_format:
      type: object
      properties: {title: {type: string}, minutes: {type: integer, minimum: 1}}
      required: [title, minutes]
  - {name: blurb, column_type: llm-text, model_alias: m, system_prompt: "You write menus.",
     prompt: "Describe {{ recipe.title }} ({{ recipe.minutes }} min) about {{ topic }}"}
  - {name: code, column_type: llm-code, model_alias: m, code_lang: python, prompt: "Code for {{ blurb }}"}
  - name: verdict
    column_type: llm-judge
    model_alias: m
    prompt: "Judge {{ blurb }}"
    scores:
      - {name: taste, description: "How tasty it sounds", options: {"1": bad, "2": good}}
`

// llmGenerator compiles the named column of llmConfig (with restarts, when >= 0) on a model
// served by stub.
func llmGenerator(t *testing.T, stub *llmstub.Stub, column string, restarts int, patience time.Duration) *scheduler.Generator {
	t.Helper()
	cfg, err := config.Parse([]byte(llmConfig))
	require.NoError(t, err)
	col := cfg.Column(column)
	if restarts >= 0 {
		col.LLM.MaxConversationRestarts = restarts
	}
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	m := llm.NewModel(cfg.Model("m"), &config.Provider{Name: "stub", Endpoint: url}, 8,
		llm.Options{Patience: patience, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, HTTPClient: client})
	g, err := generators.LLM(col, m, nil)
	require.NoError(t, err)
	return g
}

func lastPrompt(stub *llmstub.Stub) []llmstub.Message {
	reqs := stub.Requests()
	return reqs[len(reqs)-1].Messages
}

// Prompts render over the row, a structured column's fields included.
func TestLLMTextRendersPromptsAcrossColumns(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return "  A warm soup.\n" }})
	g := llmGenerator(t, stub, "blurb", -1, time.Minute)
	require.Equal(t, []string{"recipe", "topic"}, g.Inputs)
	v, err := g.Cell(context.Background(), map[string]any{"topic": "soup", "recipe": `{"title": "Pho", "minutes": 40}`})
	require.NoError(t, err)
	require.Equal(t, "A warm soup.", v)
	require.Equal(t, []llmstub.Message{{Role: "system", Content: "You write menus."},
		{Role: "user", Content: "Describe Pho (40 min) about soup"}}, lastPrompt(stub))
}

func TestLLMCodeKeepsTheCode(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string {
		return "Sure:\n```bash\necho no\n```\nand\n```python\nprint('soup')\n```\nEnjoy."
	}})
	g := llmGenerator(t, stub, "code", -1, time.Minute)
	v, err := g.Cell(context.Background(), map[string]any{"blurb": "x"})
	require.NoError(t, err)
	require.Equal(t, "print('soup')", v, "the block in the column's language")
}

func TestExtractCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ reply, lang, want string }{
		{"print(1)", "python", "print(1)"},
		{"```\nSELECT 1;\n```", "sql:postgres", "SELECT 1;"},
		{"x\n```sql\nSELECT 2;\n```", "sql:postgres", "SELECT 2;"},
		{"```go\nfunc f() {}\n```\n```python\npass\n```", "rust", "func f() {}"},
	} {
		require.Equal(t, tc.want, generators.ExtractCode(tc.reply, tc.lang), "%q", tc.reply)
	}
}

func TestLLMStructuredValidatesAndRestarts(t *testing.T) {
	t.Parallel()
	t.Run("a valid reply", func(t *testing.T) {
		t.Parallel()
		stub := llmstub.New(llmstub.Options{})
		g := llmGenerator(t, stub, "recipe", -1, time.Minute)
		v, err := g.Cell(context.Background(), map[string]any{"topic": "soup"})
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(v.(string)), &doc))
		require.Contains(t, doc, "title")
		require.GreaterOrEqual(t, doc["minutes"], 1.0)
		rf := stub.Requests()[0].ResponseFormat
		require.Equal(t, "recipe", rf.JSONSchema.Name)
	})
	t.Run("invalid replies are asked again", func(t *testing.T) {
		t.Parallel()
		stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(2, llmstub.Fault{InvalidStructured: true})})
		g := llmGenerator(t, stub, "recipe", 5, time.Minute)
		_, err := g.Cell(context.Background(), map[string]any{"topic": "soup"})
		require.NoError(t, err)
		require.EqualValues(t, 3, stub.Stats().Requests)
	})
	t.Run("past max_conversation_restarts the row is dropped", func(t *testing.T) {
		t.Parallel()
		stub := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return `{"title": "Pho", "minutes": 0}` }})
		g := llmGenerator(t, stub, "recipe", 1, time.Minute)
		_, err := g.Cell(context.Background(), map[string]any{"topic": "soup"})
		require.ErrorContains(t, err, `column "recipe": no valid reply in 2 attempts`)
		require.ErrorContains(t, err, "minimum")
		var fatal *scheduler.FatalError
		require.NotErrorAs(t, err, &fatal, "an invalid reply drops the row, not the run")
		require.EqualValues(t, 2, stub.Stats().Requests)
	})
}

func TestLLMJudgeScores(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	g := llmGenerator(t, stub, "verdict", -1, time.Minute)
	v, err := g.Cell(context.Background(), map[string]any{"blurb": "Pho"})
	require.NoError(t, err)
	var doc map[string]map[string]any
	require.NoError(t, json.Unmarshal([]byte(v.(string)), &doc))
	require.Contains(t, []any{1.0, 2.0, "1", "2"}, doc["taste"]["score"])
	prompt := lastPrompt(stub)[0].Content
	require.True(t, strings.HasPrefix(prompt, "Judge Pho"))
	require.Contains(t, prompt, "taste: How tasty it sounds")
	require.Contains(t, prompt, "2: good")

	bad := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return `{"taste": {"reasoning": "r", "score": 7}}` }})
	_, err = llmGenerator(t, bad, "verdict", 0, time.Minute).Cell(context.Background(), map[string]any{"blurb": "Pho"})
	require.Error(t, err, "a score outside its options is not accepted")
}

// A model past its patience fails the group, and so the run, naming the model.
func TestLLMUnavailableModelIsFatal(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: 503})})
	g := llmGenerator(t, stub, "blurb", -1, 10*time.Millisecond)
	_, err := g.Cell(context.Background(), map[string]any{"topic": "soup", "recipe": `{"title": "Pho", "minutes": 1}`})
	var fatal *scheduler.FatalError
	require.ErrorAs(t, err, &fatal)
	require.ErrorContains(t, err, `model "m"`)
}

// A model whose replies are not chat completions fails the group at once, naming the endpoint.
func TestLLMBadReplyIsFatal(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{HTML: true})})
	g := llmGenerator(t, stub, "blurb", -1, time.Hour)
	_, err := g.Cell(context.Background(), map[string]any{"topic": "soup", "recipe": `{"title": "Pho", "minutes": 1}`})
	var fatal *scheduler.FatalError
	require.ErrorAs(t, err, &fatal)
	var bad *llm.BadReplyError
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, `column "blurb"`)
	require.ErrorContains(t, err, bad.Endpoint)
}
