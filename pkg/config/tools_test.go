package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestToolConfigs(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
model_configs: [{alias: m, model: x, provider: openai}]
mcp_providers:
  - {name: docs, endpoint: "http://search-box:8080/sse", api_key: DOCS_MCP_KEY}
  - {name: calc, provider_type: streamable_http, endpoint: "http://calc:9000/mcp"}
  - {name: files, provider_type: stdio, command: /usr/local/bin/files-mcp, args: [--root, /data], env: {LOG_LEVEL: warn}}
tool_configs:
  - {tool_alias: research, providers: [docs, calc], allow_tools: [search, add], max_tool_call_turns: 3, timeout_sec: 30}
  - {tool_alias: local, providers: [files]}
columns:
  - {name: q, column_type: sampler, sampler_type: category, params: {values: [a]}}
  - {name: answer, column_type: llm-text, model_alias: m, tool_alias: research, prompt: "{{ q }}"}
`))
	require.NoError(t, err)
	require.Equal(t, []*MCPProvider{
		{Name: "docs", Type: MCPSSE, Endpoint: "http://search-box:8080/sse", APIKey: "DOCS_MCP_KEY"},
		{Name: "calc", Type: MCPStreamableHTTP, Endpoint: "http://calc:9000/mcp"},
		{Name: "files", Type: MCPStdio, Command: "/usr/local/bin/files-mcp", Args: []string{"--root", "/data"}, Env: map[string]string{"LOG_LEVEL": "warn"}},
	}, cfg.MCPProviders)
	require.Equal(t, &ToolConfig{Alias: "research", Providers: []string{"docs", "calc"}, AllowTools: []string{"search", "add"},
		MaxToolCallTurns: 3, TimeoutSec: 30}, cfg.Tool("research"))
	require.Equal(t, &ToolConfig{Alias: "local", Providers: []string{"files"}, MaxToolCallTurns: DefaultMaxToolCallTurns}, cfg.Tool("local"))
	require.Nil(t, cfg.Tool("nope"))
	require.Equal(t, "research", cfg.Column("answer").LLM.ToolAlias)
}
