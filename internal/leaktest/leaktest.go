// Package leaktest finds secrets where a run must not leave them, for the key-leak tests of
// local mode (internal/deploy) and of a distributed deployment (e2e): in the messages a NATS
// server carried and in the files under a folder. Both scan the same way, so a place one of
// them learns to look is looked at by the other too.
package leaktest

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/mcpstub"
)

// Bus keeps every message published on a NATS server from the moment it subscribes: stream
// messages, KV puts (rf_runs, rf_commits, rf_preview, rf_workers), object-store chunks and
// the replies to JetStream API calls (KV gets included) alike.
type Bus struct {
	t    testing.TB
	nc   *nats.Conn
	mu   sync.Mutex
	msgs []*nats.Msg
}

// RecordBus subscribes to every subject of the server at url. The subscription is in place
// when it returns, so call it before the run publishes anything; the connection closes when
// the test ends.
func RecordBus(t testing.TB, url string) *Bus {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	b := &Bus{t: t, nc: nc}
	_, err = nc.Subscribe(">", func(m *nats.Msg) {
		b.mu.Lock()
		b.msgs = append(b.msgs, m)
		b.mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return b
}

// Leaks returns the subjects of the recorded messages that contain secret in their subject,
// headers or body. It fails the test if nothing was recorded: a recorder that saw no run
// proves nothing. While the server still runs, a flush first makes sure every message it
// sent before the call has been recorded; a local run's embedded server is gone by the time
// its test looks (or goes while the flush waits), and what it delivered is all there is.
func (b *Bus) Leaks(secret string) []string {
	b.t.Helper()
	if b.nc.IsConnected() {
		if err := b.nc.Flush(); err != nil && b.nc.IsConnected() {
			require.NoError(b.t, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	require.NotEmpty(b.t, b.msgs, "the recorder saw the run")
	var where []string
	for _, m := range b.msgs {
		if strings.Contains(m.Subject, secret) || bytes.Contains(m.Data, []byte(secret)) || strings.Contains(fmt.Sprint(m.Header), secret) {
			where = append(where, m.Subject)
		}
	}
	return where
}

// Files returns the files under dirs whose path or content contains secret.
func Files(t testing.TB, secret string, dirs ...string) []string {
	t.Helper()
	var where []string
	for _, dir := range dirs {
		require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte(secret)) || strings.Contains(path, secret) {
				where = append(where, path)
			}
			return nil
		}))
	}
	return where
}

// Credentials is a set of headers a request must all carry, each with its value.
type Credentials map[string]string

// Bearer is the credentials of an api_key: the bearer token the OpenAI client sends.
func Bearer(key string) Credentials { return Credentials{"Authorization": "Bearer " + key} }

// With returns c and the header name with value, for a provider that sends a credential
// header (extra_headers) next to its api_key.
func (c Credentials) With(name, value string) Credentials {
	out := Credentials{name: value}
	for k, v := range c {
		out[k] = v
	}
	return out
}

func (c Credentials) match(h http.Header) bool {
	for k, v := range c {
		if h.Get(k) != v {
			return false
		}
	}
	return true
}

// KeyedStub is an endpoint that answers only requests carrying all of one of accepted's
// headers, and 401 otherwise, as a real endpoint does: a run against it that succeeds, with
// no failed request, proves that its workers had every key and header value (a redaction
// marker sent instead is refused).
func KeyedStub(accepted ...Credentials) *llmstub.Stub { return llmstub.New(Keyed(accepted...)) }

// Keyed is KeyedStub's options, for a test that adds to them (CheckEnv).
func Keyed(accepted ...Credentials) llmstub.Options {
	return llmstub.Options{Faults: func(_ int64, req *llmstub.ChatRequest) llmstub.Fault {
		for _, c := range accepted {
			if c.match(req.Header) {
				return llmstub.Fault{}
			}
		}
		return llmstub.Fault{Status: 401}
	}}
}

// What a stub with CheckEnv answers after the MCP server's getenv tool returned.
const (
	EnvOK    = "the MCP server had the variable's value"
	EnvWrong = "the MCP server did not have the variable's value"
)

// CheckEnv makes the stub of o prove that an MCP stdio server was started with variable set
// to value (an env entry that was redacted, which the worker must have filled): a request
// that offers mcpstub's getenv tool is answered with a call of getenv for variable, and the
// request that carries the tool's result with EnvOK or EnvWrong. The value itself is never in
// a reply, so a dataset that has it leaked it. Requests without the tool get DefaultReply.
func CheckEnv(o llmstub.Options, variable, value string) llmstub.Options {
	o.ToolCalls = func(req *llmstub.ChatRequest) []llmstub.ToolCall {
		if last := req.Messages[len(req.Messages)-1]; last.Role == "tool" || !offers(req, mcpstub.Getenv) {
			return nil
		}
		return []llmstub.ToolCall{{Function: llmstub.ToolCallFunction{Name: mcpstub.Getenv, Arguments: fmt.Sprintf(`{"name":%q}`, variable)}}}
	}
	o.Reply = func(req *llmstub.ChatRequest) string {
		last := req.Messages[len(req.Messages)-1]
		switch {
		case last.Role != "tool":
			return llmstub.DefaultReply(req)
		case last.Content == value:
			return EnvOK
		default:
			return EnvWrong
		}
	}
	return o
}

func offers(req *llmstub.ChatRequest, tool string) bool {
	for _, t := range req.Tools {
		if t.Function.Name == tool {
			return true
		}
	}
	return false
}

// The fixture both key-leak tests run: distinctive literal secrets of every kind a run must
// keep to itself, a config that holds those of the config and a providers-file entry that
// holds the others. A test that finds one of them where it looks has found a leak.
const (
	Key        = "sk-leak-7f3a9c1e-config"                 // the config's model_providers api_key
	Header     = "hdr-leak-31d0-config-x-api-key"          // the config's provider's x-api-key header
	FileKey    = "sk-leak-b24d-providers-file"             // the providers file's api_key
	FileHeader = "hdr-leak-c85e-providers-file-auth-token" // the providers file's X-Auth-Token header
	EnvToken   = "ghp_leak9e4bMcpEnvToken"                 // GITHUB_TOKEN in the MCP stdio provider's env
)

// Secrets are the fixture's secrets, for the scans.
var Secrets = []string{Key, Header, FileKey, FileHeader, EnvToken}

// FileProvider is the name of the providers-file entry Config's model b uses; give it
// endpoint, api_key FileKey and extra_headers {X-Auth-Token: FileHeader}.
const FileProvider = "fromfile"

// Config is the fixture's config: model a on provider lit (api_key Key, header x-api-key
// Header, and X-Title, which is no credential), model b on FileProvider, and a column env that
// calls the getenv tool of an MCP stdio server (mcpCommand: the mcpstub program) started with
// GITHUB_TOKEN=EnvToken. With Stub, its rows' env is EnvOK.
func Config(endpoint, mcpCommand string) string {
	return fmt.Sprintf(`
model_providers:
  - {name: lit, endpoint: "%s", api_key: "%s", extra_headers: {x-api-key: "%s", X-Title: rowforge}}
model_configs:
  - {alias: a, model: m, provider: lit}
  - {alias: b, model: m, provider: %s}
mcp_providers:
  - {name: gh, provider_type: stdio, command: %q, env: {GITHUB_TOKEN: "%s"}}
tool_configs: [{tool_alias: gh-tools, providers: [gh], allow_tools: [getenv]}]
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, tea]}}
  - {name: q, column_type: llm-text, model_alias: a, prompt: "Ask about {{ topic }}"}
  - {name: r, column_type: llm-text, model_alias: b, prompt: "Answer {{ q }}"}
  - {name: env, column_type: llm-text, model_alias: a, prompt: "Read the token", tool_alias: gh-tools}
`, endpoint, Key, Header, FileProvider, mcpCommand, EnvToken)
}

// Stub is the fixture's endpoint: it answers only requests with lit's key and header or the
// providers file's key and header (401 otherwise), and answers the env column with EnvOK only
// when the MCP server had the token. A run against it that succeeds with no failed request
// and EnvOK in every row proves that its workers had every secret.
func Stub() *llmstub.Stub {
	return llmstub.New(CheckEnv(Keyed(
		Bearer(Key).With("X-Api-Key", Header),
		Bearer(FileKey).With("X-Auth-Token", FileHeader)), "GITHUB_TOKEN", EnvToken))
}
