package tools_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/mcpstub"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/internal/tools"
	"github.com/rowforge/rowforge/pkg/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open returns a registry of providers, closed when the test ends.
func open(t *testing.T, providers ...*config.MCPProvider) *tools.Registry {
	t.Helper()
	r := tools.NewRegistry(providers, nil)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

func toolConfig(providers ...string) *config.ToolConfig {
	return &config.ToolConfig{Alias: "t", Providers: providers, MaxToolCallTurns: config.DefaultMaxToolCallTurns}
}

func call(name, args string) llm.ToolCall {
	return llm.ToolCall{ID: "c1", Type: "function", Function: llm.ToolFunction{Name: name, Arguments: args}}
}

func names(ts []llm.Tool) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func TestTransports(t *testing.T) {
	t.Parallel()
	stdio := testbin.Program(t, "internal/mcpstub/cmd/mcpstub")
	for _, tc := range []struct {
		name     string
		provider func(t *testing.T) *config.MCPProvider
	}{
		{"stdio", func(*testing.T) *config.MCPProvider {
			return &config.MCPProvider{Name: "p", Type: config.MCPStdio, Command: stdio, Args: []string{"-prefix", "x_"}}
		}},
		{"sse", func(t *testing.T) *config.MCPProvider {
			return &config.MCPProvider{Name: "p", Type: config.MCPSSE, Endpoint: mcpstub.New("x_").Serve(t, mcpstub.SSE, "")}
		}},
		{"streamable_http", func(t *testing.T) *config.MCPProvider {
			return &config.MCPProvider{Name: "p", Type: config.MCPStreamableHTTP, Endpoint: mcpstub.New("x_").Serve(t, mcpstub.StreamableHTTP, "")}
		}},
		{"streamable_http with a literal API key", func(t *testing.T) *config.MCPProvider {
			return &config.MCPProvider{Name: "p", Type: config.MCPStreamableHTTP, APIKey: "literal-key",
				Endpoint: mcpstub.New("x_").Serve(t, mcpstub.StreamableHTTP, "literal-key")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := open(t, tc.provider(t)).Toolset(toolConfig("p"))
			got, err := ts.Tools(t.Context())
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"x_lookup", "x_add", "x_fail", "x_hang", "x_getenv"}, names(got))
			for _, tool := range got {
				if tool.Name == "x_lookup" {
					assert.Equal(t, "Looks a key up.", tool.Description)
					assert.Contains(t, tool.Parameters["properties"], "key", "the input schema reaches the model")
				}
			}
			out, err := ts.Call(t.Context(), call("x_lookup", `{"key":"k1"}`))
			require.NoError(t, err)
			assert.Equal(t, mcpstub.LookupResult("k1"), out)
			out, err = ts.Call(t.Context(), call("x_add", `{"a":2,"b":3.5}`))
			require.NoError(t, err)
			assert.Equal(t, "5.5", out)
		})
	}
}

func TestAPIKeyFromTheEnvironment(t *testing.T) { // not parallel: Setenv
	t.Setenv("ROWFORGE_TEST_MCP_KEY", "s3cret")
	ep := mcpstub.New("").Serve(t, mcpstub.SSE, "s3cret")
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPSSE, Endpoint: ep, APIKey: "ROWFORGE_TEST_MCP_KEY"}).Toolset(toolConfig("p"))
	out, err := ts.Call(t.Context(), call(mcpstub.Lookup, `{"key":"k"}`))
	require.NoError(t, err)
	assert.Equal(t, mcpstub.LookupResult("k"), out)
}

func TestAPIKeyIsRequired(t *testing.T) {
	t.Parallel()
	ep := mcpstub.New("").Serve(t, mcpstub.StreamableHTTP, "right")
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPStreamableHTTP, Endpoint: ep, APIKey: "wrong"}).Toolset(toolConfig("p"))
	_, err := ts.Tools(t.Context())
	var ce *tools.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "t", ce.Alias)
	assert.ErrorContains(t, err, `MCP provider "p"`)
}

func TestAllowTools(t *testing.T) {
	t.Parallel()
	s := mcpstub.New("")
	r := open(t, &config.MCPProvider{Name: "p", Type: config.MCPSSE, Endpoint: s.Serve(t, mcpstub.SSE, "")})
	tc := toolConfig("p")
	tc.AllowTools = []string{mcpstub.Lookup}
	ts := r.Toolset(tc)
	got, err := ts.Tools(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{mcpstub.Lookup}, names(got))

	_, err = ts.Call(t.Context(), call(mcpstub.Add, `{"a":1,"b":2}`))
	assert.ErrorContains(t, err, `tool "add" is not permitted`)
	assert.NotContains(t, s.Calls(), mcpstub.Add, "a tool outside allow_tools is never called")

	tc2 := toolConfig("p")
	tc2.Alias, tc2.AllowTools = "t2", []string{mcpstub.Lookup, "search"}
	_, err = r.Toolset(tc2).Tools(t.Context())
	var ce *tools.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "t2", ce.Alias)
	assert.ErrorContains(t, err, `allow_tools "search" on none of the providers p`)
}

func TestDuplicateToolNames(t *testing.T) {
	t.Parallel()
	r := open(t,
		&config.MCPProvider{Name: "a", Type: config.MCPSSE, Endpoint: mcpstub.New("").Serve(t, mcpstub.SSE, "")},
		&config.MCPProvider{Name: "b", Type: config.MCPStreamableHTTP, Endpoint: mcpstub.New("").Serve(t, mcpstub.StreamableHTTP, "")},
		&config.MCPProvider{Name: "c", Type: config.MCPSSE, Endpoint: mcpstub.New("c_").Serve(t, mcpstub.SSE, "")},
	)
	_, err := r.Toolset(toolConfig("a", "b")).Tools(t.Context())
	var ce *tools.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.ErrorContains(t, err, `"lookup" (on a, b)`)

	// Distinct names on two providers: each call goes to the provider that has the tool.
	ts := r.Toolset(toolConfig("a", "c"))
	got, err := ts.Tools(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 10)
	out, err := ts.Call(t.Context(), call("c_lookup", `{"key":"z"}`))
	require.NoError(t, err)
	assert.Equal(t, mcpstub.LookupResult("z"), out)
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	s := mcpstub.New("")
	tc := toolConfig("p")
	tc.TimeoutSec = 0.05
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPStreamableHTTP, Endpoint: s.Serve(t, mcpstub.StreamableHTTP, "")}).Toolset(tc)

	_, err := ts.Call(t.Context(), call("nope", `{}`))
	assert.ErrorContains(t, err, `tool "nope" is not permitted`)

	_, err = ts.Call(t.Context(), call(mcpstub.Lookup, `{"key":`))
	assert.ErrorContains(t, err, `tool "lookup": arguments are not a JSON object`)

	// A tool's own error is its result: the model reads it.
	out, err := ts.Call(t.Context(), call(mcpstub.Fail, ``))
	require.NoError(t, err)
	assert.Equal(t, "the tool failed", out)

	_, err = ts.Call(t.Context(), call(mcpstub.Hang, `{}`))
	assert.ErrorContains(t, err, `tool "hang": timed out after 0.05s (timeout_sec)`)
	var ce *tools.ConfigError
	assert.False(t, errors.As(err, &ce), "a call's failure is the row's, not the config's")

	assert.Equal(t, []string{mcpstub.Fail, mcpstub.Hang}, s.Calls(), "refused calls never reach the server")
}

func TestUnreachableProvider(t *testing.T) {
	t.Parallel()
	r := open(t,
		&config.MCPProvider{Name: "gone", Type: config.MCPStdio, Command: "/nonexistent/mcp-server"},
		&config.MCPProvider{Name: "down", Type: config.MCPSSE, Endpoint: "http://127.0.0.1:1/sse"},
	)
	for _, p := range []string{"gone", "down"} {
		ts := r.Toolset(toolConfig(p))
		_, err := ts.Tools(t.Context())
		var ce *tools.ConfigError
		require.ErrorAs(t, err, &ce, p)
		assert.ErrorContains(t, err, `MCP provider "`+p+`": connect`)
		_, err2 := ts.Call(t.Context(), call(mcpstub.Lookup, `{"key":"k"}`))
		assert.Equal(t, err, err2, "the failure is remembered, not retried per row")
	}
}

func TestCancelledCallerDoesNotFailTheToolset(t *testing.T) {
	t.Parallel()
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPSSE, Endpoint: mcpstub.New("").Serve(t, mcpstub.SSE, "")}).Toolset(toolConfig("p"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ts.Tools(ctx)
	require.ErrorIs(t, err, context.Canceled)
	got, err := ts.Tools(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 5)
}

func TestCloseEndsTheStdioProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := tools.NewRegistry([]*config.MCPProvider{{Name: "p", Type: config.MCPStdio,
		Command: testbin.Program(t, "internal/mcpstub/cmd/mcpstub"), Args: []string{"-pid-dir", dir}}}, nil)
	ts := r.Toolset(toolConfig("p"))
	_, err := ts.Tools(t.Context())
	require.NoError(t, err)
	pids, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, pids, 1)
	pid, err := strconv.Atoi(pids[0].Name())
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, 0), "the program runs while the registry is open")
	require.NoError(t, r.Close())
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "Close waited for the program to exit")
	_, err = ts.Call(t.Context(), call(mcpstub.Lookup, `{"key":"k"}`))
	assert.Error(t, err, "the session is closed")
	_, err = r.Toolset(toolConfig("p")).Tools(t.Context())
	assert.ErrorContains(t, err, "registry closed")
}

// A stdio server that dies: calls fail at once, naming the tool and the provider (no hang).
func TestDeadStdioServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPStdio,
		Command: testbin.Program(t, "internal/mcpstub/cmd/mcpstub"), Args: []string{"-pid-dir", dir}}).Toolset(toolConfig("p"))
	_, err := ts.Tools(t.Context())
	require.NoError(t, err)
	pids, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, pids, 1)
	pid, err := strconv.Atoi(pids[0].Name())
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	_, err = ts.Call(t.Context(), call(mcpstub.Lookup, `{"key":"k"}`))
	assert.ErrorContains(t, err, `tool "lookup" on MCP provider "p"`)
}

// A stdio server gets a safe default environment and the provider's env, not the worker's
// secrets (its model keys).
func TestStdioEnvironment(t *testing.T) { // not parallel: Setenv
	t.Setenv("ROWFORGE_TEST_SECRET_KEY", "s3cret")
	ts := open(t, &config.MCPProvider{Name: "p", Type: config.MCPStdio, Command: testbin.Program(t, "internal/mcpstub/cmd/mcpstub"),
		Env: map[string]string{"KB_TOKEN": "given"}}).Toolset(toolConfig("p"))
	for name, want := range map[string]string{"ROWFORGE_TEST_SECRET_KEY": "", "KB_TOKEN": "given", "PATH": os.Getenv("PATH")} {
		out, err := ts.Call(t.Context(), call(mcpstub.Getenv, `{"name":"`+name+`"}`))
		require.NoError(t, err)
		assert.Equal(t, want, out, name)
	}
}
