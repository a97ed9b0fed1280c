package secrets_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// keyedConfig carries a literal key of every kind a config can hold, and an environment
// variable name, which is not a secret.
func keyedConfig(key string) string {
	return `
model_providers:
  - {name: lit, endpoint: "http://127.0.0.1:1/v1", api_key: "` + key + `"}
  - {name: byname, endpoint: "http://127.0.0.1:1/v1", api_key: STUB_API_KEY}
model_configs:
  - {alias: a, model: m, provider: lit}
  - {alias: b, model: m, provider: byname}
mcp_providers:
  - {name: search, provider_type: sse, endpoint: "http://127.0.0.1:1/sse", api_key: "` + key + `-mcp"}
tool_configs:
  - {tool_alias: t, providers: [search]}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "hi", tool_alias: t}
  - {name: r, column_type: llm-text, model_alias: b, prompt: "{{ q }}"}
`
}

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text))
	require.NoError(t, err)
	return cfg
}

// Every literal key leaves what is hashed, written and published; a variable name stays; the
// typed fields keep the literal for the controller's own calls.
func TestRedactConfig(t *testing.T) {
	const key = "sk-unit-5d1e-aaaa"
	cfg := parse(t, keyedConfig(key))
	found := secrets.Redact(cfg)

	require.Equal(t, secrets.Store{"model_providers.lit": key, "mcp_providers.search": key + "-mcp"}, found)
	src, err := cfg.SourceJSON()
	require.NoError(t, err)
	for name, doc := range map[string]string{"source": string(src), "builder_config": string(cfg.JSON())} {
		require.NotContains(t, doc, key, name)
		require.Contains(t, doc, `"redacted:model_providers.lit"`, name)
		require.Contains(t, doc, `"redacted:mcp_providers.search"`, name)
		require.Contains(t, doc, `"STUB_API_KEY"`, name)
	}
	require.Equal(t, key, cfg.Providers[0].APIKey)

	// What a worker parses again is the redacted config.
	again := parse(t, string(src))
	require.Equal(t, "redacted:model_providers.lit", again.Providers[0].APIKey)
	require.Equal(t, cfg.Hash(), again.Hash())
}

func TestRedactSeedToken(t *testing.T) {
	cfg := &config.Config{
		Raw:    map[string]any{"seed_config": map[string]any{"source": map[string]any{"seed_type": "hf", "token": "hf_AbCdEf123"}}},
		Source: []byte(`{"seed_config":{"source":{"seed_type":"hf","token":"hf_AbCdEf123"}}}`),
		Seed:   &config.SeedConfig{Source: config.SeedSource{Type: config.SeedHF, Token: "hf_AbCdEf123"}},
	}
	// An hf token has the shape of a variable name; only one in capitals is taken for one.
	require.Equal(t, secrets.Store{"seed_config.token": "hf_AbCdEf123"}, secrets.Redact(cfg))
	require.NotContains(t, string(cfg.JSON()), "hf_AbCdEf123")
	src, err := cfg.SourceJSON()
	require.NoError(t, err)
	require.Contains(t, string(src), `"token":"redacted:seed_config.token"`)
	require.NotContains(t, string(src), "hf_AbCdEf123")
}

// Only the credential fields are rewritten. A short credential value ("false", "1") also
// appears as text elsewhere — in a prompt, an expression, an endpoint — and must stay there, or
// the workers would generate from another config than the user's.
func TestRedactTouchesOnlyTheCredentialFields(t *testing.T) {
	cfg := parse(t, `
model_providers:
  - name: p
    endpoint: "http://10.0.0.1:8000/v1"
    extra_headers: {X-Auth-Version: "1"}
model_configs:
  - {alias: a, model: m, provider: p}
mcp_providers:
  - {name: gh, provider_type: stdio, command: gh-mcp, env: {TOKENIZERS_PARALLELISM: "false"}}
tool_configs:
  - {tool_alias: t, providers: [gh]}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "Answer true or false.", tool_alias: t}
  - {name: e, column_type: expression, expr: "{{ 'yes' if q == 'true' else 'false' }}"}
`)
	found := secrets.Redact(cfg)
	require.Equal(t, secrets.Store{"model_providers.p.extra_headers.X-Auth-Version": "1",
		"mcp_providers.gh.env.TOKENIZERS_PARALLELISM": "false"}, found)
	src, err := cfg.SourceJSON()
	require.NoError(t, err)
	again := parse(t, string(src))
	require.Equal(t, "http://10.0.0.1:8000/v1", again.Providers[0].Endpoint)
	require.Equal(t, "redacted:model_providers.p.extra_headers.X-Auth-Version", again.Providers[0].ExtraHeaders["X-Auth-Version"])
	require.Equal(t, "redacted:mcp_providers.gh.env.TOKENIZERS_PARALLELISM", again.MCPProviders[0].Env["TOKENIZERS_PARALLELISM"])
	require.Equal(t, "Answer true or false.", again.Columns[0].LLM.Prompt)
	require.Equal(t, "{{ 'yes' if q == 'true' else 'false' }}", again.Columns[1].Expr)
}

// config_hash does not depend on the key: two configs that differ only by their literal key
// have one hash (and it differs from the unredacted one's).
func TestHashIgnoresKeyValue(t *testing.T) {
	a, b := parse(t, keyedConfig("sk-one-1111")), parse(t, keyedConfig("sk-two-2222"))
	unredacted := a.Hash()
	secrets.Redact(a)
	secrets.Redact(b)
	require.Equal(t, a.Hash(), b.Hash())
	require.NotEqual(t, unredacted, a.Hash())
}

// A key that encoding/json escapes (HTML characters, non-ASCII) is redacted in Source too.
func TestRedactEscapedKey(t *testing.T) {
	const key = "sk-<&>-é-\u2028"
	cfg := parse(t, `
model_providers:
  - {name: lit, endpoint: "http://127.0.0.1:1/v1", api_key: "sk-<&>-é-\u2028"}
model_configs:
  - {alias: a, model: m, provider: lit}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "hi"}
`)
	secrets.Redact(cfg)
	src, err := cfg.SourceJSON()
	require.NoError(t, err)
	require.NotContains(t, string(src), key)
	require.NotContains(t, string(src), `sk-\u003c`)
	require.NotContains(t, string(cfg.JSON()), key)
}

func TestRedactProviders(t *testing.T) {
	ps := []wire.Provider{{Name: "vllm", APIKey: "sk-file-77"}, {Name: "env", APIKey: "VLLM_KEY"}, {Name: "none"}}
	out, found := secrets.RedactProviders(ps)
	require.Equal(t, "redacted:providers.vllm", out[0].APIKey)
	require.Equal(t, "VLLM_KEY", out[1].APIKey)
	require.Empty(t, out[2].APIKey)
	require.Equal(t, "sk-file-77", ps[0].APIKey, "the caller's copy keeps the key")
	require.Equal(t, secrets.Store{"providers.vllm": "sk-file-77"}, found)
}

// A worker fills the markers its models and tools use, from memory, its file or its
// environment, in that order; one it cannot resolve is a *MissingError naming the model and
// the ways to give the key.
func TestFill(t *testing.T) {
	redactedConfig := func() *config.Config {
		cfg := parse(t, keyedConfig("sk-fill-1"))
		secrets.Redact(cfg)
		src, err := cfg.SourceJSON()
		require.NoError(t, err)
		return parse(t, string(src))
	}
	noEnv := func(string) (string, bool) { return "", false }

	cfg := redactedConfig()
	providers := llm.Resolve(cfg.Providers, nil)
	r := &secrets.Resolver{Memory: secrets.Store{"model_providers.lit": "from-memory"},
		File: secrets.Store{"model_providers.lit": "from-file", "mcp_providers.search": "mcp-from-file"}, Getenv: noEnv}
	require.NoError(t, r.Fill(cfg, providers))
	require.Equal(t, "from-memory", providers["lit"].APIKey)
	require.Equal(t, "mcp-from-file", cfg.MCPProviders[0].APIKey)
	require.Equal(t, "STUB_API_KEY", providers["byname"].APIKey)

	cfg = redactedConfig()
	providers = llm.Resolve(cfg.Providers, nil)
	env := map[string]string{"RF_SECRET_MODEL_PROVIDERS_LIT": "from-env", "RF_SECRET_MCP_PROVIDERS_SEARCH": "m"}
	r = &secrets.Resolver{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	require.NoError(t, r.Fill(cfg, providers))
	require.Equal(t, "from-env", providers["lit"].APIKey)

	cfg = redactedConfig()
	providers = llm.Resolve(cfg.Providers, nil)
	err := (&secrets.Resolver{Getenv: noEnv}).Fill(cfg, providers)
	var missing *secrets.MissingError
	require.ErrorAs(t, err, &missing)
	msg := err.Error()
	for _, want := range []string{`model "a" (provider "lit")`, "--secrets", "model_providers.lit=<key>", "RF_SECRET_MODEL_PROVIDERS_LIT", `MCP provider "search"`} {
		require.Contains(t, msg, want)
	}
	require.NotContains(t, msg, "sk-fill-1")
}

// An unused provider's marker is no error: a providers file may list many.
func TestFillIgnoresUnusedProviders(t *testing.T) {
	cfg := parse(t, `
model_configs:
  - {alias: a, model: m, provider: used}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "hi"}
`)
	providers := llm.Resolve(nil, wire.ConfigProviders([]wire.Provider{
		{Name: "used", Endpoint: "http://127.0.0.1:1/v1", APIKey: "USED_KEY"},
		{Name: "other", Endpoint: "http://127.0.0.1:1/v1", APIKey: "redacted:providers.other"}}))
	require.NoError(t, (&secrets.Resolver{Getenv: func(string) (string, bool) { return "", false }}).Fill(cfg, providers))
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets")
	require.NoError(t, os.WriteFile(path, []byte("# keys\n\nmodel_providers.lit = sk-a=b\nproviders.vllm=x\n"), 0o600))
	s, err := secrets.LoadFile(path)
	require.NoError(t, err)
	require.Equal(t, secrets.Store{"model_providers.lit": "sk-a=b", "providers.vllm": "x"}, s)

	require.NoError(t, os.WriteFile(path, []byte("sk-just-a-key-42\n"), 0o600))
	_, err = secrets.LoadFile(path)
	require.ErrorContains(t, err, "line 1")
	require.NotContains(t, err.Error(), "sk-just-a-key-42", "the error must not print the line")

	_, err = secrets.LoadFile(filepath.Join(dir, "absent"))
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestDisplayAndEnvName(t *testing.T) {
	require.Equal(t, "OPENAI_API_KEY", secrets.Display("OPENAI_API_KEY"))
	require.Equal(t, "redacted:model_providers.x", secrets.Display("redacted:model_providers.x"))
	require.False(t, strings.Contains(secrets.Display("sk-live-123"), "sk-live"))
	require.Equal(t, "RF_SECRET_MODEL_PROVIDERS_MY_LOCAL_V2", secrets.EnvName("model_providers.my-local.v2"))
}

// A seed token or MCP api_key in capitals is a variable name and stays; any other value is
// taken for the key.
func TestTokenNamesInCapitals(t *testing.T) {
	cfg := &config.Config{
		Raw:          map[string]any{"seed_config": map[string]any{"source": map[string]any{"token": "HF_TOKEN"}}},
		Seed:         &config.SeedConfig{Source: config.SeedSource{Type: config.SeedHF, Token: "HF_TOKEN"}},
		MCPProviders: []*config.MCPProvider{{Name: "docs", APIKey: "docs_key"}, {Name: "calc", APIKey: "CALC_KEY"}},
	}
	require.Equal(t, secrets.Store{"mcp_providers.docs": "docs_key"}, secrets.Redact(cfg))
	require.Contains(t, string(cfg.JSON()), "HF_TOKEN")
}

// The rule that decides which header and variable values are credentials: a name containing
// auth, key, token, secret, password, passwd, cookie or credential, in any case.
func TestCredentialName(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization":         true,
		"authorization":         true,
		"Proxy-Authorization":   true,
		"api-key":               true,
		"x-api-key":             true,
		"X-Auth-Token":          true,
		"Cookie":                true,
		"GITHUB_TOKEN":          true,
		"AWS_SECRET_ACCESS_KEY": true,
		"PGPASSWORD":            true,
		"MYSQL_PASSWD":          true,
		"GOOGLE_CREDENTIALS":    true,
		"KEYBOARD_LAYOUT":       true, // errs toward redacting
		"Content-Type":          false,
		"X-Request-Id":          false,
		"OpenAI-Organization":   false,
		"HTTP_PROXY":            false,
		"PATH":                  false,
		"LOG_LEVEL":             false,
		"":                      false,
	} {
		require.Equal(t, want, secrets.CredentialName(name), name)
	}
}

// headerConfig has credentials in a model provider's extra_headers and in an MCP stdio
// provider's env, next to entries that are not credentials and to an empty token.
func headerConfig(bearer, apiKey, ghToken string) string {
	return `
model_providers:
  - name: hdr
    endpoint: "http://127.0.0.1:1/v1"
    api_key: STUB_API_KEY
    extra_headers: {Authorization: "Bearer ` + bearer + `", x-api-key: "` + apiKey + `", Content-Type: application/json}
model_configs:
  - {alias: a, model: m, provider: hdr}
mcp_providers:
  - name: gh
    provider_type: stdio
    command: /bin/true
    env: {GITHUB_TOKEN: "` + ghToken + `", LOG_LEVEL: debug, EMPTY_TOKEN: ""}
tool_configs:
  - {tool_alias: t, providers: [gh]}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "hi", tool_alias: t}
`
}

// Credential headers and variables are redacted like api_key, under markers that name the
// provider and the entry; other entries, an empty value and the typed fields are left as
// they are.
func TestRedactHeadersAndEnv(t *testing.T) {
	const bearer, apiKey, gh = "sk-hdr-91c2", "azure-key-0f0f", "ghp_unitTokenAbc123"
	cfg := parse(t, headerConfig(bearer, apiKey, gh))
	found := secrets.Redact(cfg)

	require.Equal(t, secrets.Store{
		"model_providers.hdr.extra_headers.Authorization": "Bearer " + bearer,
		"model_providers.hdr.extra_headers.x-api-key":     apiKey,
		"mcp_providers.gh.env.GITHUB_TOKEN":               gh,
	}, found)
	src, err := cfg.SourceJSON()
	require.NoError(t, err)
	for name, doc := range map[string]string{"source": string(src), "builder_config": string(cfg.JSON())} {
		for _, secret := range []string{bearer, apiKey, gh} {
			require.NotContains(t, doc, secret, name)
		}
		require.Contains(t, doc, `"redacted:model_providers.hdr.extra_headers.Authorization"`, name)
		require.Contains(t, doc, `"redacted:model_providers.hdr.extra_headers.x-api-key"`, name)
		require.Contains(t, doc, `"redacted:mcp_providers.gh.env.GITHUB_TOKEN"`, name)
		require.Contains(t, doc, `"application/json"`, name)
		require.Contains(t, doc, `"debug"`, name)
	}
	require.Equal(t, "Bearer "+bearer, cfg.Providers[0].ExtraHeaders["Authorization"], "the controller's own calls keep the key")
	require.Equal(t, gh, cfg.MCPProviders[0].Env["GITHUB_TOKEN"])

	// config_hash does not depend on the header's or the variable's value either.
	other := parse(t, headerConfig("sk-hdr-other", "azure-key-other", "ghp_otherToken"))
	secrets.Redact(other)
	require.Equal(t, cfg.Hash(), other.Hash())
}

// A worker fills header and variable markers like api_key ones, from memory, its file or its
// environment, without changing a header map it shares with the run record; one it cannot
// resolve is a *MissingError that names the header or variable.
func TestFillHeadersAndEnv(t *testing.T) {
	redacted := func() (*config.Config, map[string]*config.Provider, map[string]string) {
		cfg := parse(t, headerConfig("sk-fill-h", "k-fill", "ghp_fill"))
		secrets.Redact(cfg)
		src, err := cfg.SourceJSON()
		require.NoError(t, err)
		cfg = parse(t, string(src))
		providers := llm.Resolve(cfg.Providers, nil)
		return cfg, providers, providers["hdr"].ExtraHeaders
	}
	noEnv := func(string) (string, bool) { return "", false }

	cfg, providers, shared := redacted()
	r := &secrets.Resolver{
		Memory: secrets.Store{"model_providers.hdr.extra_headers.Authorization": "Bearer from-memory"},
		File:   secrets.Store{"model_providers.hdr.extra_headers.x-api-key": "key-from-file"},
		Getenv: func(k string) (string, bool) {
			v, ok := map[string]string{"RF_SECRET_MCP_PROVIDERS_GH_ENV_GITHUB_TOKEN": "ghp_from_env"}[k]
			return v, ok
		},
	}
	require.NoError(t, r.Fill(cfg, providers))
	require.Equal(t, map[string]string{"Authorization": "Bearer from-memory", "x-api-key": "key-from-file",
		"Content-Type": "application/json"}, providers["hdr"].ExtraHeaders)
	require.Equal(t, map[string]string{"GITHUB_TOKEN": "ghp_from_env", "LOG_LEVEL": "debug", "EMPTY_TOKEN": ""},
		cfg.MCPProviders[0].Env)
	require.Equal(t, "redacted:model_providers.hdr.extra_headers.Authorization", shared["Authorization"],
		"the map the record shares keeps its marker")
	require.Equal(t, "STUB_API_KEY", providers["hdr"].APIKey)

	cfg, providers, _ = redacted()
	err := (&secrets.Resolver{Getenv: noEnv}).Fill(cfg, providers)
	var missing *secrets.MissingError
	require.ErrorAs(t, err, &missing)
	msg := err.Error()
	for _, want := range []string{
		`model "a" (provider "hdr"): the header "Authorization"`,
		"model_providers.hdr.extra_headers.Authorization=<value>",
		"RF_SECRET_MODEL_PROVIDERS_HDR_EXTRA_HEADERS_AUTHORIZATION",
		`header "x-api-key"`,
		`MCP provider "gh": the env "GITHUB_TOKEN"`,
		"RF_SECRET_MCP_PROVIDERS_GH_ENV_GITHUB_TOKEN",
	} {
		require.Contains(t, msg, want)
	}
	require.NotContains(t, msg, "api_key", "a header cannot name a variable instead")
	for _, secret := range []string{"sk-fill-h", "k-fill", "ghp_fill"} {
		require.NotContains(t, msg, secret)
	}
}

// A providers file's credential headers are redacted in the copy for the record, never in
// the caller's map.
func TestRedactProvidersHeaders(t *testing.T) {
	headers := map[string]string{"Authorization": "Bearer sk-file-h", "X-Title": "rowforge"}
	ps := []wire.Provider{{Name: "vllm", APIKey: "VLLM_KEY", ExtraHeaders: headers}}
	out, found := secrets.RedactProviders(ps)
	require.Equal(t, map[string]string{"Authorization": "redacted:providers.vllm.extra_headers.Authorization", "X-Title": "rowforge"},
		out[0].ExtraHeaders)
	require.Equal(t, "Bearer sk-file-h", headers["Authorization"], "the caller's map keeps the key")
	require.Equal(t, secrets.Store{"providers.vllm.extra_headers.Authorization": "Bearer sk-file-h"}, found)
}
