package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// laterKeys are the DataDesignerConfig keys that later rowforge features will implement. Until
// then a config that uses one is rejected by name rather than run without it; an empty value
// is accepted because Data Designer's own exports write `constraints: []` and the like.
var laterKeys = map[string]bool{}

// topLevelKeys are the top-level keys rowforge reads. model_providers is its own: Data
// Designer keeps providers out of the dataset config, in a file of the machine it runs on.
var topLevelKeys = []string{"columns", "processors", "model_configs", "model_providers", "constraints", "profilers", "seed_config", "tool_configs", "mcp_providers"}

// Load reads and parses the config file at path.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// A config that cannot be read is the user's to fix, like one that does not parse.
		return nil, &Error{Msg: "cannot read the config", Err: err} // the *PathError names the file
	}
	cfg, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses and validates a config in Data Designer's YAML (or JSON) shape: the shorthand
// `{columns: […], …}` or the full `{data_designer: {…}, library_version: …}`. It reports every
// problem it finds, each an *Error, joined with errors.Join.
//
// A config with a seed_config needs WithSeedColumns: the seed dataset's columns join the
// config's columns, first, before references are checked.
func Parse(data []byte, options ...Option) (*Config, error) {
	var opts parseOptions
	for _, o := range options {
		o(&opts)
	}
	node, doc, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	p := &problems{order: keyOrders(node)}
	root := toJSON(doc, "", p)
	if len(p.errs) > 0 {
		// A value without a JSON form was dropped from the tree; checking the rest would only
		// report it again as missing.
		nameColumns(p.errs, root)
		return nil, p.err()
	}
	if root == nil {
		p.add("", "", "no columns: the config must list at least one column")
		return nil, p.err()
	}
	m, ok := root.(map[string]any)
	if !ok {
		p.add("", "", "the config must be a mapping with a columns key, got %s", describe(root))
		return nil, p.err()
	}
	if m = unwrap(m, p); m == nil {
		return nil, p.err()
	}
	checkTopLevel(m, p)
	cfg := &Config{Raw: m, Source: source(node, m)}
	cfg.Profilers = parseProfilers(m["profilers"], p)
	broken := map[*Column]bool{}
	switch list := m["columns"].(type) {
	case nil:
		p.add("", "columns", "no columns: the config must list at least one column")
	case []any:
		if len(list) == 0 && m["seed_config"] == nil { // with a seed, its columns are the dataset's
			p.add("", "columns", "no columns: the config must list at least one column (or a seed_config)")
		}
		for i, v := range list {
			col, ok := parseColumn(p, i, v)
			if col == nil {
				continue
			}
			cfg.Columns = append(cfg.Columns, col)
			if !ok {
				broken[col] = true
			}
		}
	default:
		p.add("", "columns", "want a list of columns, got %s", describe(list))
	}
	if v, ok := m["seed_config"]; ok && v != nil {
		cfg.Seed = parseSeedConfig(v, p)
	}
	if cfg.Seed != nil || m["seed_config"] == nil {
		addSeedColumns(cfg, opts, p)
	} else {
		p.seedUnknown = true
	}
	cfg.Constraints = parseConstraints(m["constraints"], p)
	checkConstraints(cfg, p)
	cfg.Order = validate(cfg.Columns, broken, p)
	models, aliasless := parseModels(m["model_configs"], p)
	cfg.Models = models
	cfg.Providers = parseProviders(m["model_providers"], p)
	cfg.Tools = parseToolConfigs(m["tool_configs"], p)
	cfg.MCPProviders = parseMCPProviders(m["mcp_providers"], p)
	checkToolRefs(cfg, p)
	checkProfilerModels(cfg, p)
	checkModelRefs(cfg.Columns, cfg.Models, aliasless, p)
	pbroken := map[*Processor]bool{}
	procs := parseProcessors(m["processors"], pbroken, p)
	cfg.Processors = checkProcessors(cfg, procs, pbroken, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeYAML decodes exactly one YAML document, as a node tree (which keeps the order of
// mappings) and as values. A stream of several documents would silently lose all but the
// first, so it is an error.
func decodeYAML(data []byte) (*yaml.Node, any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var node yaml.Node
	if err := dec.Decode(&node); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, nil, yamlError(err)
		}
		return nil, nil, &Error{Msg: "invalid YAML: the config must be a single YAML document"}
	}
	var doc any
	if err := node.Decode(&doc); err != nil {
		return nil, nil, yamlError(err)
	}
	return &node, doc, nil
}

// source is the DataDesignerConfig mapping as JSON in the document's order (see orderedJSON),
// or Raw's JSON for a document orderedJSON does not write.
func source(node *yaml.Node, raw map[string]any) []byte {
	root := resolve(node)
	if dd := mappingValue(root, "data_designer"); dd != nil && mappingValue(root, "columns") == nil {
		root = dd
	}
	var b bytes.Buffer
	if orderedJSON(root, &b) {
		return b.Bytes()
	}
	out, err := json.Marshal(raw)
	if err != nil {
		panic(fmt.Sprintf("config: Raw does not encode as JSON: %v", err))
	}
	return out
}

// yamlError turns a YAML library error into an *Error. Its messages carry the line number.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return &Error{Msg: "invalid YAML: " + strings.Join(te.Errors, "; ")}
	}
	return &Error{Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// nameColumns attributes problems found while converting the document to the column they
// are in, like the problems found later: `columns[2].params.low` of a column named "age"
// becomes column "age", field `params.low`; `processors[1].template.x` of a processor named
// "chat" becomes field `processors[chat].template.x`, and models and providers likewise.
func nameColumns(errs []error, root any) {
	m, _ := root.(map[string]any)
	prefix := ""
	if dd, ok := m["data_designer"].(map[string]any); ok {
		m, prefix = dd, "data_designer."
	}
	cols, _ := m["columns"].([]any)
	named := []struct {
		key, nameKey string
		field        func(string, int) string
	}{
		{"processors", "name", processorField},
		{"model_configs", "alias", modelField},
		{"model_providers", "name", providerField},
	}
	for _, err := range errs {
		e, ok := err.(*Error)
		if !ok || e.Column != "" {
			continue
		}
		e.Field = strings.TrimPrefix(e.Field, prefix)
		for _, n := range named {
			list, _ := m[n.key].([]any)
			for i, v := range list {
				at := fmt.Sprintf("%s[%d].", n.key, i)
				entry, _ := v.(map[string]any)
				if name, ok := entry[n.nameKey].(string); ok && strings.HasPrefix(e.Field, at) {
					e.Field = n.field(name, i) + "." + strings.TrimPrefix(e.Field, at)
					break // the new name may read as another entry's position
				}
			}
		}
		for i, c := range cols {
			at := fmt.Sprintf("columns[%d].", i)
			if !strings.HasPrefix(e.Field, at) {
				continue
			}
			entry, _ := c.(map[string]any)
			if name, ok := entry["name"].(string); ok && strings.TrimSpace(name) != "" {
				e.Column, e.Field = name, strings.TrimPrefix(e.Field, at)
			}
		}
	}
}

// unwrap returns the DataDesignerConfig mapping of the full form `{data_designer: …,
// library_version: …}`, or m itself for the shorthand. It returns nil when data_designer is not
// a mapping.
func unwrap(m map[string]any, p *problems) map[string]any {
	dd, full := m["data_designer"]
	if !full {
		return m
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "data_designer":
		case "library_version":
			if v := m[k]; v != nil {
				if _, ok := v.(string); !ok {
					p.add("", k, "want a string, got %s", describe(v))
				}
			}
		default:
			p.add("", k, "unknown top-level key %q: beside data_designer only library_version is allowed", k)
		}
	}
	inner, ok := dd.(map[string]any)
	if !ok {
		p.add("", "data_designer", "want a mapping with a columns key, got %s", describe(dd))
		return nil
	}
	return inner
}

// checkTopLevel rejects unknown keys and the keys of features rowforge does not have yet.
func checkTopLevel(m map[string]any, p *problems) {
	known := slices.Clone(topLevelKeys)
	for k := range laterKeys {
		known = append(known, k)
	}
	for _, k := range sortedKeys(m) {
		switch {
		case slices.Contains(topLevelKeys, k):
		case laterKeys[k]:
			if !isEmpty(m[k]) {
				p.add("", k, "%s is not supported yet", k)
			}
		default:
			msg := fmt.Sprintf("unknown top-level key %q", k)
			if s := closest(k, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add("", k, "%s", msg)
		}
	}
}

// isEmpty reports whether a value is null or an empty list or mapping: the "not set" values
// Data Designer writes for optional parts.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// Hash identifies the config: "sha256:" and the hex digest of Raw's canonical JSON (the one
// encoding/json writes, with sorted keys), so that key order and formatting of the source file
// do not change it. Raw from Parse always encodes; one built by hand that does not is a
// programming error, and Hash panics rather than return an identifier that is not one.
func (c *Config) Hash() string {
	b, err := json.Marshal(c.Raw)
	if err != nil {
		panic(fmt.Sprintf("config: Raw does not encode as JSON: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// JSON returns the content of builder_config.json: `{"data_designer": Raw}`, indented. HTML
// characters are not escaped, so that templates (`{{ a < b }}`) stay readable. It panics on a
// hand-built Raw that does not encode, as Hash does.
func (c *Config) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"data_designer": c.Raw}); err != nil {
		panic(fmt.Sprintf("config: Raw does not encode as JSON: %v", err))
	}
	return b.Bytes()
}

// SeedColumns returns the columns the controller materializes with each row group before any
// generator runs, in dependency order: the seed dataset's, then the samplers.
func (c *Config) SeedColumns() []*Column {
	return c.ordered(func(col *Column) bool { return col.Type == TypeSampler || col.Type == TypeSeedDataset })
}

// SamplerColumns returns the sampler columns in dependency order.
func (c *Config) SamplerColumns() []*Column {
	return c.ordered(func(col *Column) bool { return col.Type == TypeSampler })
}

// SeedDatasetColumns returns the seed dataset's columns, in the seed's order.
func (c *Config) SeedDatasetColumns() []*Column {
	var out []*Column
	for _, col := range c.Columns {
		if col.Type == TypeSeedDataset {
			out = append(out, col)
		}
	}
	return out
}

// GeneratedColumns returns the columns the scheduler generates, in dependency order: all but
// the seed columns.
func (c *Config) GeneratedColumns() []*Column {
	return c.ordered(func(col *Column) bool { return col.Type != TypeSampler && col.Type != TypeSeedDataset })
}

// DroppedColumns returns the names of the columns marked `drop: true`, in config order: they
// are generated (others may read them) but left out of the output. Processors holds the
// drop_columns processors that drop them (DefaultDropColumns for those no explicit one drops);
// columns that only a drop_columns processor names are not listed here.
func (c *Config) DroppedColumns() []string {
	var names []string
	for _, col := range c.Columns {
		if col.Drop {
			names = append(names, col.Name)
		}
	}
	return names
}

func (c *Config) ordered(keep func(*Column) bool) []*Column {
	var out []*Column
	for _, name := range c.Order {
		if col := c.Column(name); col != nil && keep(col) {
			out = append(out, col)
		}
	}
	return out
}

// SourceJSON is the config to hand to another process: Source, or Raw's JSON for a Config
// built in code.
func (c *Config) SourceJSON() ([]byte, error) {
	if c.Source != nil {
		return c.Source, nil
	}
	return json.Marshal(c.Raw)
}
