package generators_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/mcpstub"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/tools"
	"github.com/rowforge/rowforge/pkg/config"
)

// toolConfig has one LLM column, answer, that may call the tools of an MCP server at %s.
const toolConfig = `
model_configs: [{alias: m, model: stub-model, provider: stub}]
mcp_providers: [{name: kb, endpoint: %q}]
tool_configs: [{tool_alias: kb-tools, providers: [kb], max_tool_call_turns: 2, timeout_sec: 5}]
columns:
  - {name: key, column_type: sampler, sampler_type: category, params: {values: [k]}}
  - name: answer
    column_type: %s
    model_alias: m
    prompt: "What is {{ key }}?"
    tool_alias: kb-tools
    with_trace: all_messages
    max_conversation_restarts: 1
    %s
`

// toolGenerator compiles answer (of type typ, with extra keys) against a fresh MCP server
// and the stand-in model stub.
func toolGenerator(t *testing.T, stub *llmstub.Stub, typ, extra string) (*scheduler.Generator, *mcpstub.Server) {
	t.Helper()
	srv := mcpstub.New("")
	cfg, err := config.Parse(fmt.Appendf(nil, toolConfig, srv.Serve(t, mcpstub.SSE, ""), typ, extra))
	require.NoError(t, err)
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	m := llm.NewModel(cfg.Model("m"), &config.Provider{Name: "stub", Endpoint: url}, 8,
		llm.Options{Patience: time.Minute, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, HTTPClient: client})
	reg := tools.NewRegistry(cfg.MCPProviders, nil)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	g, err := generators.LLM(cfg.Column("answer"), m, reg.Toolset(cfg.Tool("kb-tools")))
	require.NoError(t, err)
	return g, srv
}

// lastTool is the content of the request's last message when it is a tool result.
func lastTool(req *llmstub.ChatRequest) (string, bool) {
	last := req.Messages[len(req.Messages)-1]
	return last.Content, last.Role == "tool"
}

func lookup(key string) llmstub.ToolCall {
	return llmstub.ToolCall{Function: llmstub.ToolCallFunction{Name: mcpstub.Lookup, Arguments: fmt.Sprintf(`{"key":%q}`, key)}}
}

// A model that looks the key up, then answers with what the tool said; the trace holds the
// whole conversation, tool calls and results included.
func TestLLMCallsTools(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{
		ToolCalls: func(req *llmstub.ChatRequest) []llmstub.ToolCall {
			if _, ok := lastTool(req); ok {
				return nil
			}
			return []llmstub.ToolCall{lookup("k"), {Function: llmstub.ToolCallFunction{Name: mcpstub.Add, Arguments: `{"a":1,"b":2}`}}}
		},
		Reply: func(req *llmstub.ChatRequest) string {
			var results []string
			for _, m := range req.Messages {
				if m.Role == "tool" {
					results = append(results, m.ToolCallID+"="+m.Content)
				}
			}
			return strings.Join(results, "; ")
		},
	})
	g, srv := toolGenerator(t, stub, "llm-text", "")
	v, err := g.Cell(t.Context(), map[string]any{"key": "k"})
	require.NoError(t, err)
	values := v.([]any)
	assert.Equal(t, "call_1_0=value of k; call_1_1=3", values[0], "results go back in the calls' order, each with its call's id")
	assert.ElementsMatch(t, []string{mcpstub.Lookup, mcpstub.Add}, srv.Calls())

	reqs := stub.Requests()
	require.Len(t, reqs, 2)
	var offered []string
	for _, tl := range reqs[0].Tools {
		offered = append(offered, tl.Function.Name)
	}
	assert.ElementsMatch(t, []string{mcpstub.Lookup, mcpstub.Add, mcpstub.Fail, mcpstub.Hang, mcpstub.Getenv}, offered)
	assert.Equal(t, []string{"user", "assistant", "tool", "tool"}, roles(reqs[1].Messages))
	assert.Len(t, reqs[1].Messages[1].ToolCalls, 2, "the assistant's calls are sent back with the results")

	var trace []map[string]any
	require.NoError(t, json.Unmarshal([]byte(values[1].(string)), &trace))
	require.Len(t, trace, 5)
	assert.Equal(t, "tool", trace[2]["role"])
	assert.Equal(t, "call_1_0", trace[2]["tool_call_id"])
	calls := trace[1]["tool_calls"].([]any)
	assert.Equal(t, mcpstub.Lookup, calls[0].(map[string]any)["function"].(map[string]any)["name"])
	assert.Equal(t, "assistant", trace[4]["role"])
}

func roles(msgs []llmstub.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Role)
	}
	return out
}

// Past max_tool_call_turns (2), the model's calls are answered with Data Designer's refusal
// and it has to answer.
func TestLLMToolTurnsAreBounded(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{
		ToolCalls: func(req *llmstub.ChatRequest) []llmstub.ToolCall {
			if c, ok := lastTool(req); ok && c == generators.ToolRefusal {
				return nil
			}
			return []llmstub.ToolCall{lookup("k")}
		},
		Reply: func(*llmstub.ChatRequest) string { return "done" },
	})
	g, srv := toolGenerator(t, stub, "llm-text", "")
	v, err := g.Cell(t.Context(), map[string]any{"key": "k"})
	require.NoError(t, err)
	assert.Equal(t, "done", v.([]any)[0])
	assert.Len(t, srv.Calls(), 2, "two turns run, the third is refused")
	assert.Len(t, stub.Requests(), 4)
}

// A model that ignores the refusals does not loop forever: the row is dropped.
func TestLLMStubbornModelDropsTheRow(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{ToolCalls: func(*llmstub.ChatRequest) []llmstub.ToolCall { return []llmstub.ToolCall{lookup("k")} }})
	g, srv := toolGenerator(t, stub, "llm-text", "")
	_, err := g.Cell(t.Context(), map[string]any{"key": "k"})
	require.ErrorContains(t, err, `column "answer": the model kept asking for tools after 3 refusals`)
	var fatal *scheduler.FatalError
	assert.NotErrorAs(t, err, &fatal)
	assert.Len(t, srv.Calls(), 2)
}

// Calls that cannot run drop the row, naming the column and the tool; the tool's own error is
// a result the model reads.
func TestLLMToolCallErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		call llmstub.ToolCall
		want string
	}{
		{"unknown tool", llmstub.ToolCall{Function: llmstub.ToolCallFunction{Name: "search", Arguments: `{}`}}, `column "answer": tool "search" is not permitted for providers kb`},
		{"bad arguments", llmstub.ToolCall{Function: llmstub.ToolCallFunction{Name: mcpstub.Lookup, Arguments: `key=k`}}, `column "answer": tool "lookup": arguments are not a JSON object`},
		{"the tool's error", llmstub.ToolCall{Function: llmstub.ToolCallFunction{Name: mcpstub.Fail}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{
				ToolCalls: func(req *llmstub.ChatRequest) []llmstub.ToolCall {
					if _, ok := lastTool(req); ok {
						return nil
					}
					return []llmstub.ToolCall{tc.call}
				},
				Reply: func(req *llmstub.ChatRequest) string { c, _ := lastTool(req); return "saw: " + c },
			})
			g, _ := toolGenerator(t, stub, "llm-text", "")
			v, err := g.Cell(t.Context(), map[string]any{"key": "k"})
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				var fatal *scheduler.FatalError
				assert.NotErrorAs(t, err, &fatal, "the row's error, not the run's")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "saw: the tool failed", v.([]any)[0])
		})
	}
}

// A reply that fails validation restarts the conversation after the last turn of tool calls:
// the tools are not called again.
func TestLLMRestartKeepsToolResults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	invalid := 0
	stub := llmstub.New(llmstub.Options{
		ToolCalls: func(req *llmstub.ChatRequest) []llmstub.ToolCall {
			if _, ok := lastTool(req); ok {
				return nil
			}
			return []llmstub.ToolCall{lookup("k")}
		},
		Faults: func(_ int64, req *llmstub.ChatRequest) llmstub.Fault {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := lastTool(req); ok && invalid == 0 {
				invalid++
				return llmstub.Fault{InvalidStructured: true}
			}
			return llmstub.Fault{}
		},
	})
	g, srv := toolGenerator(t, stub, "llm-structured", `output_format: {type: object, properties: {v: {type: string}}, required: [v]}`)
	v, err := g.Cell(t.Context(), map[string]any{"key": "k"})
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(v.([]any)[0].(string)), &doc))
	assert.Contains(t, doc, "v", "the valid reply of the restart")
	assert.Len(t, srv.Calls(), 1, "the restart starts after the tool call")
	reqs := stub.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, roles(reqs[1].Messages), roles(reqs[2].Messages), "the restart resends the conversation up to the tool results")
}

// Tools that cannot work with their providers fail the group: every row would fail alike.
func TestLLMUnreachableToolsAreFatal(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(fmt.Appendf(nil, toolConfig, "http://127.0.0.1:1/sse", "llm-text", ""))
	require.NoError(t, err)
	stub := llmstub.New(llmstub.Options{})
	m := llm.NewModel(cfg.Model("m"), &config.Provider{Name: "stub", Endpoint: stub.Start(t)}, 8, llm.Options{Patience: time.Minute})
	reg := tools.NewRegistry(cfg.MCPProviders, nil)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	g, err := generators.LLM(cfg.Column("answer"), m, reg.Toolset(cfg.Tool("kb-tools")))
	require.NoError(t, err)
	_, err = g.Cell(context.Background(), map[string]any{"key": "k"})
	var fatal *scheduler.FatalError
	require.ErrorAs(t, err, &fatal)
	assert.ErrorContains(t, err, `column "answer": tool config "kb-tools": MCP provider "kb": connect`)
	assert.Empty(t, stub.Requests(), "no model call without the tools")
}
