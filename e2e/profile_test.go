package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
)

// A build is profiled: analysis.json and report.html are beside the data, the judge-score
// profiler's summaries written by its model; `controller report` renders them again, and
// refuses a folder that holds no finished dataset.
func TestProfileAfterBuild(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Reply: func(req *llmstub.ChatRequest) string {
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "evaluator reasoning") {
			return "Judged fairly."
		}
		return llmstub.DefaultReply(req)
	}})
	cfg := writeConfig(t, fmt.Sprintf(`
model_providers: [{name: stub, endpoint: %q, api_key: STUB_API_KEY}]
model_configs: [{alias: m, model: w, provider: stub}]
profilers: [{model_alias: m, summary_score_sample_size: 4}]
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: answer, column_type: llm-text, model_alias: m, prompt: "Write about {{ topic }}"}
  - name: grade
    column_type: llm-judge
    model_alias: m
    prompt: "Grade {{ answer }}"
    scores: [{name: accuracy, description: "Is it right?", options: {"0": wrong, "1": right}}]
`, stub.Start(t)))
	out := t.TempDir()
	env := append(envWithout("NATS_URL"), "STUB_API_KEY=k")
	res := runCommandEnv(t, "", env, testbin.Binary(t, "controller"),
		"run", "-f", cfg, "-n", "40", "--buffer-size", "20", "--out", out, "--name", "prof", "--seed", "1")
	requireCode(t, 0, res, "run")
	dir := filepath.Join(out, "prof")
	require.Contains(t, res.Stderr, "profile: "+filepath.Join(dir, "report.html"))

	var a struct {
		NumRecords int `json:"num_records"`
		Columns    []struct {
			Name string `json:"column_name"`
		} `json:"column_statistics"`
		Profiles []struct {
			Column    string `json:"column_name"`
			Summaries map[string]struct {
				Summary string `json:"summary"`
				Samples []any  `json:"score_samples"`
			} `json:"summaries"`
		} `json:"column_profiles"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &a))
	require.Equal(t, 40, a.NumRecords)
	require.Len(t, a.Columns, 3)
	require.Len(t, a.Profiles, 1)
	require.Equal(t, "grade", a.Profiles[0].Column)
	require.Equal(t, "Judged fairly.", a.Profiles[0].Summaries["accuracy"].Summary)
	require.Len(t, a.Profiles[0].Summaries["accuracy"].Samples, 4)

	require.NoError(t, os.Remove(filepath.Join(dir, "report.html")))
	res = runCommandEnv(t, "", env, testbin.Binary(t, "controller"), "report", dir)
	requireCode(t, 0, res, "report")
	require.FileExists(t, filepath.Join(dir, "report.html"))

	res = runCommandEnv(t, "", env, testbin.Binary(t, "controller"), "report", t.TempDir())
	requireCode(t, 2, res, "report of an empty folder")
	require.Contains(t, res.Stderr, "is not a finished dataset (no metadata.json)")
}
