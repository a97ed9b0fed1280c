package secrets

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Redact replaces every literal key of cfg (model_providers and mcp_providers api_key, the
// seed's token, and the value of each model provider's extra_headers entry and MCP stdio
// provider's env entry whose name is a CredentialName) by its marker in cfg.Raw and cfg.Source, which are what Hash, JSON and
// SourceJSON read: what is hashed, written to builder_config.json and published in the run
// record. The typed fields (cfg.Providers and the like) keep the literal, for the controller's
// own model calls. It returns the literals by secret name, for in-process workers.
//
// Call it once, after Parse and before anything is hashed, written or published. A literal
// that appears elsewhere in the config (in a prompt, say) is replaced there too.
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
	literals := byLiteral(found)
	cfg.Raw = replaceTree(cfg.Raw, literals).(map[string]any)
	if cfg.Source != nil {
		cfg.Source = replaceJSON(cfg.Source, literals)
		for _, l := range literals {
			if bytes.Contains(cfg.Source, []byte(l.value)) {
				// An escape this replacement did not foresee: hand out Raw's JSON instead,
				// which loses only the document's key order.
				cfg.Source = nil
				break
			}
		}
	}
	return found
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

// literal is a key to replace and the name of its marker.
type literal struct{ value, name string }

// byLiteral inverts a store: each literal with one of its names (the smallest, so that the
// result does not depend on map order), longest first, so that a key that contains another
// (sk-a and sk-a-mcp) is replaced whole before the shorter one is looked for.
func byLiteral(s Store) []literal {
	names := map[string]string{}
	for name, lit := range s {
		if cur, ok := names[lit]; !ok || name < cur {
			names[lit] = name
		}
	}
	out := make([]literal, 0, len(names))
	for lit, name := range names {
		out = append(out, literal{lit, name})
	}
	slices.SortFunc(out, func(a, b literal) int {
		if c := cmp.Compare(len(b.value), len(a.value)); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	return out
}

// replaceTree returns v with every literal in its strings replaced by its marker. Maps and
// slices are rebuilt, not changed in place: Raw may share them with nothing else, but a copy
// costs little and keeps Redact free of aliasing surprises.
func replaceTree(v any, literals []literal) any {
	switch x := v.(type) {
	case string:
		for _, l := range literals {
			x = strings.ReplaceAll(x, l.value, Marker(l.name))
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = replaceTree(e, literals)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = replaceTree(e, literals)
		}
		return out
	}
	return v
}
