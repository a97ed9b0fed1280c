package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/rowforge/rowforge/internal/pyfmt"
)

// toJSON converts a value decoded by the YAML library into the JSON-compatible tree that Data
// Designer works on after its `json.loads(serialize_data(...))` round trip: mappings become
// map[string]any (non-string keys take their JSON text, so `4:` becomes "4"), integers int64,
// floats float64, timestamps ISO-8601 strings. Non-finite floats have no JSON form, so they are
// reported instead of being carried into builder_config.json and the config hash.
func toJSON(v any, path string, p *problems) any {
	switch x := v.(type) {
	case nil, bool, string, int64, float64:
		if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			p.add("", path, "%v has no JSON form; use a finite number", f)
			return nil
		}
		return x
	case int:
		return int64(x)
	case uint64: // the YAML library's type for integers above MaxInt64
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return isoTime(x)
	case []byte:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSON(e, fmt.Sprintf("%s[%d]", path, i), p)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			out[k] = toJSON(x[k], joinPath(path, k), p)
		}
		return out
	case map[any]any:
		type entry struct {
			key string
			val any
		}
		entries := make([]entry, 0, len(x))
		for k, v := range x {
			entries = append(entries, entry{keyString(k), v})
		}
		// Sort by key text so that problems come out in a stable order.
		sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
		out := make(map[string]any, len(x))
		for _, e := range entries {
			if _, dup := out[e.key]; dup {
				p.add("", joinPath(path, e.key), "duplicate key %q once keys are converted to strings", e.key)
				continue
			}
			out[e.key] = toJSON(e.val, joinPath(path, e.key), p)
		}
		return out
	default:
		p.add("", path, "unsupported YAML value of type %T", v)
		return nil
	}
}

// keyString is the JSON text Python's json module gives a non-string mapping key.
func keyString(k any) string {
	switch x := k.(type) {
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case time.Time:
		return isoTime(x)
	}
	return CategoryKey(k)
}

// isoTime renders a YAML timestamp as Python's isoformat would: a bare date for midnight UTC
// (YAML dates), otherwise date and time with the offset unless it is UTC.
func isoTime(t time.Time) string {
	h, m, s := t.Clock()
	if t.Location() == time.UTC && h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	layout := "2006-01-02T15:04:05.999999"
	if t.Location() != time.UTC {
		layout += "-07:00"
	}
	return t.Format(layout)
}

// CategoryKey is the string form of a category value, the key under which a subcategory lists
// the choices for it. It matches the text Python's json module gives the value (Data Designer
// normalizes configs through JSON, which turns `4:` into "4" and `2.0:` into "2.0"), so the
// engine looks values up with the same key the config was validated with.
func CategoryKey(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyfmt.Float(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// sortedKeys gives a mapping's keys in one order, so that problems and output come out the
// same on every run whatever the map's iteration order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// joinPath appends a mapping key to a dotted key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
