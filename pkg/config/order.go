package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// A config's meaning depends on the order of one mapping: when a row meets several
// conditional_params conditions, Data Designer applies the last in the file. Config.Raw is a
// map[string]any and keeps no order, so Parse reads the order from the YAML node tree, and
// Source keeps the document, in its order, for the processes that parse it again.

// keyOrders returns the key order of every mapping of a document whose key is
// conditional_params, by its path relative to the DataDesignerConfig mapping
// ("columns[2].conditional_params"), as toJSON names paths.
func keyOrders(doc *yaml.Node) map[string][]string {
	out := map[string][]string{}
	root := resolve(doc)
	if root == nil || root.Kind != yaml.MappingNode {
		return out
	}
	if dd := mappingValue(root, "data_designer"); dd != nil && mappingValue(root, "columns") == nil {
		root = dd
	}
	cols := mappingValue(root, "columns")
	if cols == nil || cols.Kind != yaml.SequenceNode {
		return out
	}
	for i, c := range cols.Content {
		cp := mappingValue(resolve(c), "conditional_params")
		if cp == nil || cp.Kind != yaml.MappingNode {
			continue
		}
		var keys []string
		for j := 0; j+1 < len(cp.Content); j += 2 {
			keys = append(keys, resolve(cp.Content[j]).Value)
		}
		out[fmt.Sprintf("columns[%d].conditional_params", i)] = keys
	}
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if resolve(m.Content[j]).Value == key {
			return resolve(m.Content[j+1])
		}
	}
	return nil
}

// orderedJSON writes the document as JSON in its own key order, its values as toJSON converts
// them, floats always with a fraction or exponent so that a float stays a float when the text
// is parsed again. It returns false for documents it does not write: those with merge keys.
func orderedJSON(n *yaml.Node, b *bytes.Buffer) bool {
	n = resolve(n)
	if n == nil {
		b.WriteString("null")
		return true
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]bool{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k := resolve(n.Content[j])
			if k.Tag == "!!merge" {
				return false
			}
			var kv any
			if err := k.Decode(&kv); err != nil {
				return false
			}
			key := keyString(kv)
			if seen[key] {
				return false
			}
			seen[key] = true
			if j > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(key)
			b.Write(kb)
			b.WriteByte(':')
			if !orderedJSON(n.Content[j+1], b) {
				return false
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for j, e := range n.Content {
			if j > 0 {
				b.WriteByte(',')
			}
			if !orderedJSON(e, b) {
				return false
			}
		}
		b.WriteByte(']')
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return false
		}
		v = toJSON(v, "", &problems{})
		if f, ok := v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !bytes.ContainsAny([]byte(s), ".eE") {
				s += ".0"
			}
			b.WriteString(s)
			return true
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return false
		}
		b.Write(vb)
	}
	return true
}
