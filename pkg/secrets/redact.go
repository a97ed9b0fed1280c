package secrets

import (
	"bytes"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Redact replaces every literal key of cfg (model_providers and mcp_providers api_key, the
// seed's token) by its marker in cfg.Raw and cfg.Source, which are what Hash, JSON and
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
	}
	for _, p := range cfg.MCPProviders {
		if IsLiteral(p.APIKey) {
			found[mcpProvider+p.Name] = p.APIKey
		}
	}
	if cfg.Seed != nil && IsLiteral(cfg.Seed.Source.Token) {
		found[seedToken] = cfg.Seed.Source.Token
	}
	if len(found) == 0 {
		return found
	}
	literals := byLiteral(found)
	cfg.Raw = replaceTree(cfg.Raw, literals).(map[string]any)
	if cfg.Source != nil {
		cfg.Source = replaceJSON(cfg.Source, literals)
		for lit := range literals {
			if bytes.Contains(cfg.Source, []byte(lit)) {
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
// each literal api_key replaced by its marker, and the literals by secret name. ps is not
// changed: the controller's own model calls read it.
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
		out[i] = p
	}
	return out, found
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

// byLiteral inverts a store: each literal to one of its names (the smallest, so that the
// result does not depend on map order).
func byLiteral(s Store) map[string]string {
	out := map[string]string{}
	for name, lit := range s {
		if cur, ok := out[lit]; !ok || name < cur {
			out[lit] = name
		}
	}
	return out
}

// replaceTree returns v with every literal in its strings replaced by its marker. Maps and
// slices are rebuilt, not changed in place: Raw may share them with nothing else, but a copy
// costs little and keeps Redact free of aliasing surprises.
func replaceTree(v any, literals map[string]string) any {
	switch x := v.(type) {
	case string:
		for lit, name := range literals {
			x = strings.ReplaceAll(x, lit, Marker(name))
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
