package worker_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/scheduler"
)

const traceConfig = `
model_configs: [{alias: m, model: stub-model, provider: stub}]
columns:
  - {name: go, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}}
  - name: answer
    column_type: llm-text
    model_alias: m
    system_prompt: "Be brief."
    prompt: "Answer {{ go }}"
    with_trace: all_messages
    extract_reasoning_content: true
    skip: {when: "{{ go == 0 }}"}
  - {name: short, column_type: llm-text, model_alias: m, prompt: "Shorten {{ answer }}", with_trace: last_message}
  - {name: why, column_type: expression, expr: "{{ answer__reasoning_content }} / {{ answer__trace | length }} / {{ short__trace[0].role }}", propagate_skip: false}
`

// with_trace and extract_reasoning_content write Data Designer's side columns, which other
// columns read; a skipped cell's side columns are null.
func TestTraceAndReasoning(t *testing.T) {
	t.Parallel()
	out, _ := runOnStub(t, traceConfig, llmstub.Options{
		Reply:     func(*llmstub.ChatRequest) string { return "forty-two" },
		Reasoning: func(*llmstub.ChatRequest) string { return "  Thinking it over.\n" },
	}, 40)
	require.Equal(t, scheduler.Completed, out.Status, "%v", out.Err)
	f := out.Frame
	ran := 0
	for i, g := range f.Column("go").Ints {
		trace, reasoning := f.Column("answer__trace"), f.Column("answer__reasoning_content")
		if g == 0 {
			require.True(t, trace.IsNull(i) && reasoning.IsNull(i), "a skipped cell's side columns are null")
			require.True(t, f.Column("short__trace").IsNull(i), "and a reader of it is skipped too")
			continue
		}
		ran++
		require.Equal(t, "Thinking it over.", reasoning.Strings[i], "the reasoning, stripped")
		var msgs []map[string]any
		require.NoError(t, json.Unmarshal([]byte(trace.Strings[i]), &msgs))
		require.Equal(t, []map[string]any{
			{"role": "system", "content": []any{map[string]any{"type": "text", "text": "Be brief."}}},
			{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Answer 1"}}},
			{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "forty-two"}}, "reasoning_content": "  Thinking it over.\n"},
		}, msgs)
		var last []map[string]any
		require.NoError(t, json.Unmarshal([]byte(f.Column("short__trace").Strings[i]), &last))
		require.Len(t, last, 1, "last_message: the final assistant message")
		require.Equal(t, "assistant", last[0]["role"])
		require.Equal(t, "Thinking it over. / 3 / assistant", f.Column("why").Strings[i])
	}
	require.NotZero(t, ran)
}
