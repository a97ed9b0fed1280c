package secrets

import (
	"maps"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Redact replaces every literal key of cfg (model_providers and mcp_providers api_key, the
// seed's token, and the value of each model provider's extra_headers entry and MCP stdio
// provider's env entry whose name is a CredentialName) by its marker in cfg.Raw, which is what
// Hash and JSON read: what is hashed and written to builder_config.json. Source is dropped, so
// that SourceJSON (the run record's config) is Raw's JSON, which loses only the document's key
// order. The typed fields (cfg.Providers and the like) keep the literal, for the controller's own
// model calls. It returns the literals by secret name, for in-process workers.
//
// Only the credential fields themselves are rewritten: a value is replaced where it is a
// credential, never as text inside other strings, since a short one ("false" in
// TOKENIZERS_PARALLELISM) would otherwise rewrite prompts and expressions. A key the config
// copies into a prompt stays there.
//
// Call it once, after Parse and before anything is hashed, written or published.
func Redact(cfg *config.Config) Store {
	found := Store{}
	for _, p := range cfg.Providers {
		if IsLiteral(p.APIKey) {
			found[modelProvider+p.Name] = p.APIKey
		}
		credentials(found, p.ExtraHeaders, func(h string) string { return headerSecret(modelProvider+p.Name, h) })
	}
	for _, p := range cfg.MCPProviders {
		if isLiteralToken(p.APIKey) {
			found[mcpProvider+p.Name] = p.APIKey
		}
		credentials(found, p.Env, func(v string) string { return envSecret(mcpProvider+p.Name, v) })
	}
	if cfg.Seed != nil && isLiteralToken(cfg.Seed.Source.Token) {
		found[seedToken] = cfg.Seed.Source.Token
	}
	if len(found) == 0 {
		return found
	}
	raw := copyTree(cfg.Raw).(map[string]any)
	redactProviders(raw["model_providers"], found, modelProvider, "extra_headers", headerSecret)
	redactProviders(raw["mcp_providers"], found, mcpProvider, "env", envSecret)
	if seed, ok := raw["seed_config"].(map[string]any); ok {
		if src, ok := seed["source"].(map[string]any); ok {
			redactField(src, "token", found, seedToken)
		}
	}
	cfg.Raw, cfg.Source = raw, nil
	return found
}

// redactProviders replaces, in a providers list of Raw, each provider's api_key and each entry
// of its entries mapping (extra_headers, env) that found holds a literal of.
func redactProviders(list any, found Store, prefix, entries string, entrySecret func(provider, entry string) string) {
	ps, _ := list.([]any)
	for _, e := range ps {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		redactField(m, "api_key", found, prefix+name)
		if em, ok := m[entries].(map[string]any); ok {
			for k := range em {
				redactField(em, k, found, entrySecret(prefix+name, k))
			}
		}
	}
}

// redactField replaces m[key] by the marker of secret when found holds that secret with m[key]'s
// value: the value the typed config took as a literal key.
func redactField(m map[string]any, key string, found Store, secret string) {
	if v, ok := m[key].(string); ok && v != "" && found[secret] == v {
		m[key] = Marker(secret)
	}
}

// RedactProviders returns a copy of ps, a providers file's entries for the run record, with
// each literal api_key and each credential header's value (CredentialName) replaced by its
// marker, and the literals by secret name. ps is not changed, its header maps included: the
// controller's own model calls read it.
func RedactProviders(ps []wire.Provider) ([]wire.Provider, Store) {
	found := Store{}
	if ps == nil {
		return nil, found
	}
	out := make([]wire.Provider, len(ps))
	for i, p := range ps {
		if IsLiteral(p.APIKey) {
			name := fileProvider + p.Name
			found[name] = p.APIKey
			p.APIKey = Marker(name)
		}
		var headers map[string]string // a copy, made on the first credential
		for h, v := range p.ExtraHeaders {
			if CredentialName(h) && isSecretValue(v) {
				if headers == nil {
					headers = maps.Clone(p.ExtraHeaders)
				}
				name := headerSecret(fileProvider+p.Name, h)
				found[name] = v
				headers[h] = Marker(name)
			}
		}
		if headers != nil {
			p.ExtraHeaders = headers
		}
		out[i] = p
	}
	return out, found
}

// credentials adds to found the value of each entry of m (a provider's headers or
// environment) whose name is a CredentialName and whose value is a secret, under the secret
// name secret gives the entry.
func credentials(found Store, m map[string]string, secret func(entry string) string) {
	for k, v := range m {
		if CredentialName(k) && isSecretValue(v) {
			found[secret(k)] = v
		}
	}
}

// Merge returns the secrets of all stores in one; a later store wins a name both hold.
func Merge(stores ...Store) Store {
	out := Store{}
	for _, s := range stores {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// copyTree returns a deep copy of a decoded YAML or JSON tree, so that Redact does not change
// maps the caller may still hold.
func copyTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyTree(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyTree(e)
		}
		return out
	}
	return v
}
