package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/mcpstub"
	"github.com/rowforge/rowforge/internal/testbin"
)

// An LLM column with MCP tools in a local run: the workers start the stdio MCP server (a real
// program), every answer is what its tool said, and no server outlives the run.
func TestMCPToolsOverStdio(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{
		ToolCalls: func(req *llmstub.ChatRequest) []llmstub.ToolCall {
			if req.Messages[len(req.Messages)-1].Role == "tool" {
				return nil
			}
			topic := strings.TrimSuffix(strings.TrimPrefix(req.Messages[0].Content, "What is "), "?")
			return []llmstub.ToolCall{{Function: llmstub.ToolCallFunction{Name: mcpstub.Lookup, Arguments: fmt.Sprintf(`{"key":%q}`, topic)}}}
		},
		Reply: func(req *llmstub.ChatRequest) string { return req.Messages[len(req.Messages)-1].Content },
	})
	pids := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
model_providers: [{name: stub, endpoint: %q, api_key: STUB_API_KEY}]
model_configs: [{alias: m, model: w, provider: stub, skip_health_check: true}] # the stub counts the cells' requests only
mcp_providers:
  - {name: kb, provider_type: stdio, command: %q, args: [-pid-dir, %q]}
tool_configs: [{tool_alias: kb-tools, providers: [kb], allow_tools: [lookup]}]
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: answer, column_type: llm-text, model_alias: m, prompt: "What is {{ topic }}?", tool_alias: kb-tools}
`, stub.Start(t), testbin.Program(t, "internal/mcpstub/cmd/mcpstub"), pids))
	out := t.TempDir()
	res := runCommandEnv(t, "", append(envWithout("NATS_URL"), "STUB_API_KEY=k"), testbin.Binary(t, "controller"),
		"run", "-f", cfg, "-n", "90", "--buffer-size", "30", "--out", out, "--name", "mcp", "--seed", "5")
	requireCode(t, 0, res, "run")

	ds := readDataset(t, filepath.Join(out, "mcp"))
	require.Equal(t, 90, ds.rows())
	for _, tb := range ds.Tables {
		answers := tb.column(t, "answer")
		for i, topic := range tb.column(t, "topic") {
			require.Equal(t, mcpstub.LookupResult(topic.(string)), answers[i])
		}
	}
	require.EqualValues(t, 2*90, stub.Stats().Completed, "one turn of tool calls, then the answer")

	started, err := os.ReadDir(pids)
	require.NoError(t, err)
	require.NotEmpty(t, started, "the workers started the MCP server")
	for _, e := range started {
		pid, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "MCP server %d outlived the run", pid)
	}
}
