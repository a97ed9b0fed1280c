package config

import (
	"fmt"
	"slices"
	"strings"
)

// ToolConfig is a `tool_configs` entry: the MCP tools an LLM column with its tool_alias may
// call, from the providers it names.
type ToolConfig struct {
	Alias      string
	Providers  []string // mcp_providers names
	AllowTools []string // nil: every tool of the providers
	// MaxToolCallTurns bounds the turns in which the model asks for tools (default 5); past
	// it, its requests are refused and it must answer.
	MaxToolCallTurns int
	TimeoutSec       float64 // per tool call; 0: none
}

// DefaultMaxToolCallTurns is Data Designer's.
const DefaultMaxToolCallTurns = 5

// MCP provider types (transports).
const (
	MCPStdio          = "stdio"
	MCPSSE            = "sse"
	MCPStreamableHTTP = "streamable_http"
)

// MCPProvider is an `mcp_providers` entry: an MCP server, reached over SSE or streamable HTTP
// at Endpoint, or started as a program speaking stdio. Data Designer keeps these in a file of
// the machine (mcp_providers.yaml); rowforge reads them from the config, in Data Designer's
// shape, so that every worker starts or reaches the same servers.
type MCPProvider struct {
	Name     string
	Type     string // MCPStdio, MCPSSE (the default) or MCPStreamableHTTP
	Endpoint string
	APIKey   string // the name of an environment variable, or the key
	Command  string
	Args     []string
	// Env is added to a stdio server's environment as written; in a config read back from a
	// run record, a credential variable's value (GITHUB_TOKEN...) is a marker.
	Env map[string]string
}

// Tool returns the tool config with the alias, or nil.
func (c *Config) Tool(alias string) *ToolConfig {
	for _, t := range c.Tools {
		if t.Alias == alias {
			return t
		}
	}
	return nil
}

func toolField(alias string, i int) string {
	if alias != "" {
		return fmt.Sprintf("tool_configs[%s]", alias)
	}
	return fmt.Sprintf("tool_configs[%d]", i)
}

func mcpField(name string, i int) string {
	if name != "" {
		return fmt.Sprintf("mcp_providers[%s]", name)
	}
	return fmt.Sprintf("mcp_providers[%d]", i)
}

// parseToolConfigs decodes `tool_configs`.
func parseToolConfigs(v any, p *problems) []*ToolConfig {
	var out []*ToolConfig
	seen := map[string]bool{}
	for i, m := range sectionMappings(v, "tool_configs", "want a list", "want a tool config mapping", p) {
		alias, _ := m["tool_alias"].(string)
		f := newFields(p, "", toolField(alias, i)+".", "key", m)
		tc := &ToolConfig{MaxToolCallTurns: DefaultMaxToolCallTurns}
		if a, ok := f.str("tool_alias", true); ok {
			if seen[a] {
				f.errorf("tool_alias", "duplicate tool_alias %q", a)
			}
			seen[a] = true
			tc.Alias = a
		}
		if v, ok := f.required("providers"); ok {
			tc.Providers = stringList(f, "providers", v)
		}
		if v, ok := f.get("allow_tools"); ok {
			tc.AllowTools = stringList(f, "allow_tools", v)
		}
		for j, t := range tc.AllowTools {
			if slices.Index(tc.AllowTools, t) != j {
				f.errorf("allow_tools", "%q is listed twice", t)
			}
		}
		if n, ok := f.intAtLeast("max_tool_call_turns", 1); ok {
			tc.MaxToolCallTurns = n
		}
		if x, ok := f.floatAbove("timeout_sec", 0); ok {
			tc.TimeoutSec = x
		}
		f.unknown()
		out = append(out, tc)
	}
	return out
}

// parseMCPProviders decodes `mcp_providers`.
func parseMCPProviders(v any, p *problems) []*MCPProvider {
	var out []*MCPProvider
	seen := map[string]bool{}
	for i, m := range sectionMappings(v, "mcp_providers", "want a list", "want an MCP provider mapping", p) {
		name, _ := m["name"].(string)
		f := newFields(p, "", mcpField(name, i)+".", "key", m)
		mp := &MCPProvider{Type: MCPSSE}
		if n, ok := f.str("name", true); ok {
			if seen[n] {
				f.errorf("name", "duplicate MCP provider name %q", n)
			}
			seen[n] = true
			mp.Name = n
		}
		if t, ok := f.str("provider_type", false); ok {
			mp.Type = t
		}
		switch mp.Type {
		case MCPStdio:
			mp.Command, _ = f.str("command", true)
			if v, ok := f.get("args"); ok && !isEmpty(v) {
				mp.Args = stringList(f, "args", v)
			}
			if ev, ok := f.get("env"); ok {
				em, isMap := ev.(map[string]any)
				if !isMap {
					f.errorf("env", "want a mapping of variables to values, got %s", describe(ev))
				}
				mp.Env = map[string]string{}
				for _, k := range sortedKeys(em) {
					s, ok := em[k].(string)
					if !ok {
						f.errorf("env."+k, "want a string, got %s", describe(em[k]))
					}
					mp.Env[k] = s
				}
			}
		case MCPSSE, MCPStreamableHTTP:
			if ep, ok := f.str("endpoint", true); ok {
				if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
					f.errorf("endpoint", "want an http or https URL, got %q", ep)
				}
				mp.Endpoint = ep
			}
			mp.APIKey, _ = f.str("api_key", false)
		default:
			f.errorf("provider_type", "%s", unknownMsg("provider_type", mp.Type, []string{MCPSSE, MCPStreamableHTTP, MCPStdio}))
		}
		f.unknown()
		out = append(out, mp)
	}
	return out
}

// checkToolRefs checks that tool configs name known MCP providers and that LLM columns name
// known tool aliases.
func checkToolRefs(cfg *Config, p *problems) {
	providers := namesOf(cfg.MCPProviders, func(mp *MCPProvider) string { return mp.Name })
	for i, tc := range cfg.Tools {
		for _, name := range tc.Providers {
			if !slices.Contains(providers, name) {
				msg := fmt.Sprintf("unknown MCP provider %q: define it under mcp_providers", name)
				if s := closest(name, providers); s != "" {
					msg = fmt.Sprintf("unknown MCP provider %q (did you mean %q?)", name, s)
				}
				p.add("", toolField(tc.Alias, i)+".providers", "%s", msg)
			}
		}
	}
	aliases := namesOf(cfg.Tools, func(tc *ToolConfig) string { return tc.Alias })
	for _, c := range cfg.Columns {
		if c.LLM == nil || c.LLM.ToolAlias == "" || slices.Contains(aliases, c.LLM.ToolAlias) {
			continue
		}
		p.add(c.Name, "tool_alias", "%s", unknownName("tool_alias", c.LLM.ToolAlias, aliases, "tool_configs"))
	}
}
