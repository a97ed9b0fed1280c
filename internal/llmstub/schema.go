package llmstub

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// GenerateInstance returns a deterministic JSON value (as produced by encoding/json: maps,
// slices, strings, float64/int64, bools, nil) that validates against schema for the subset of
// JSON Schema that structured-output schemas use:
//
//   - objects get every property (nested deeper than a few levels, only the required ones) and
//     any required names missing from properties;
//   - strings derive from the property name and honour minLength, maxLength and common formats;
//   - integers and numbers honour minimum, maximum, their exclusive forms and multipleOf;
//   - arrays get two items (bounded by minItems and maxItems), prefixItems first;
//   - const and enum (the first value) win over type; anyOf and oneOf take their first branch
//     that is not just {"type":"null"}; allOf branches are merged;
//   - $ref to local JSON pointers ("#", "#/$defs/X", "#/definitions/X", ...) is resolved;
//   - a type array such as ["string","null"] uses its first non-null type.
//
// pattern, not, if/then/else and dependent keywords are ignored.
func GenerateInstance(schema map[string]any) any {
	g := &generator{root: schema}
	return g.value(schema, "value", 0, 0)
}

type generator struct {
	root map[string]any
}

const (
	// fullDepth is the nesting depth up to which objects get all their properties and arrays
	// their default item count; below it only what the schema requires is generated, so
	// recursive schemas terminate.
	fullDepth = 8
	// maxDepth stops runaway recursion through schemas that require themselves.
	maxDepth = 64
)

// value generates an instance of schema. name is the property name the value is for (used to
// make strings), variant distinguishes array items so that they differ.
func (g *generator) value(schema any, name string, variant, depth int) any {
	if depth > maxDepth {
		return nil
	}
	sch, ok := schema.(map[string]any)
	if !ok { // true (or a malformed schema): anything goes
		return g.str(nil, name, variant)
	}
	if ref, ok := sch["$ref"].(string); ok {
		if target, ok := g.resolve(ref); ok {
			return g.value(merge(without(sch, "$ref"), target), name, variant, depth+1)
		}
		sch = without(sch, "$ref")
	}
	if branches, ok := sch["allOf"].([]any); ok {
		merged := without(sch, "allOf")
		for _, b := range branches {
			merged = merge(merged, g.deref(b))
		}
		return g.value(merged, name, variant, depth+1)
	}
	if c, ok := sch["const"]; ok {
		return c
	}
	if e, ok := sch["enum"].([]any); ok && len(e) > 0 {
		return e[variant%len(e)]
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		branches, ok := sch[key].([]any)
		if !ok || len(branches) == 0 {
			continue
		}
		pick := branches[0]
		for _, b := range branches {
			if !isNullOnly(g.deref(b)) {
				pick = b
				break
			}
		}
		return g.value(merge(without(sch, key), g.deref(pick)), name, variant, depth+1)
	}
	switch schemaType(sch) {
	case "object":
		return g.object(sch, variant, depth)
	case "array":
		return g.array(sch, name, depth)
	case "integer":
		return integer(sch, variant)
	case "number":
		return number(sch, variant)
	case "boolean":
		return variant%2 == 0
	case "null":
		return nil
	default:
		return g.str(sch, name, variant)
	}
}

func (g *generator) object(sch map[string]any, variant, depth int) any {
	props, _ := sch["properties"].(map[string]any)
	required := stringList(sch["required"])
	out := make(map[string]any, len(props))
	for k, ps := range props {
		if depth < fullDepth || slices.Contains(required, k) {
			out[k] = g.value(ps, k, variant, depth+1)
		}
	}
	extra := sch["additionalProperties"]
	if extra == nil || extra == false {
		extra = true
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			out[k] = g.value(extra, k, variant, depth+1)
		}
	}
	if minProps, ok := toFloat(sch["minProperties"]); ok && sch["additionalProperties"] != false {
		for i := 1; float64(len(out)) < minProps; i++ {
			k := "extra_" + strconv.Itoa(i)
			if _, ok := out[k]; !ok {
				out[k] = g.value(extra, k, variant, depth+1)
			}
		}
	}
	return out
}

func (g *generator) array(sch map[string]any, name string, depth int) any {
	n := 2
	if depth >= fullDepth {
		n = 0
	}
	if minItems, ok := toFloat(sch["minItems"]); ok && int(minItems) > n {
		n = int(minItems)
	}
	if maxItems, ok := toFloat(sch["maxItems"]); ok && int(maxItems) < n {
		n = int(maxItems)
	}
	prefix, _ := sch["prefixItems"].([]any)
	items := sch["items"]
	if tuple, ok := items.([]any); ok { // draft-04 .. 2019-09 tuple form
		prefix, items = tuple, sch["additionalItems"]
	}
	if items == false { // no items beyond the prefix
		n = min(n, len(prefix))
	}
	if items == nil {
		items = true
	}
	n = max(n, 0)
	out := make([]any, 0, n)
	for i := range n {
		item := items
		if i < len(prefix) {
			item = prefix[i]
		}
		out = append(out, g.value(item, name, i, depth+1))
	}
	return out
}

func (g *generator) str(sch map[string]any, name string, variant int) any {
	suffix := ""
	if variant > 0 {
		suffix = strconv.Itoa(variant + 1)
	}
	var s string
	switch format, _ := sch["format"].(string); format {
	case "date-time":
		s = fmt.Sprintf("2024-01-%02dT00:00:00Z", variant%28+1)
	case "date":
		s = fmt.Sprintf("2024-01-%02d", variant%28+1)
	case "time":
		s = fmt.Sprintf("00:00:%02dZ", variant%60)
	case "email":
		s = "user" + suffix + "@example.com"
	case "hostname":
		s = "host" + suffix + ".example.com"
	case "ipv4":
		s = fmt.Sprintf("192.0.2.%d", variant%254+1)
	case "ipv6":
		s = fmt.Sprintf("2001:db8::%x", variant+1)
	case "uri", "url", "iri":
		s = "https://example.com/" + slug(name) + suffix
	case "uuid":
		s = fmt.Sprintf("00000000-0000-4000-8000-%012d", variant)
	default:
		if name == "" {
			name = "text"
		}
		s = name
		if suffix != "" {
			s += "-" + suffix
		}
	}
	if minLen, ok := toFloat(sch["minLength"]); ok {
		if short := int(minLen) - len([]rune(s)); short > 0 {
			s += strings.Repeat("x", short)
		}
	}
	if maxLen, ok := toFloat(sch["maxLength"]); ok && len([]rune(s)) > int(maxLen) {
		s = string([]rune(s)[:max(int(maxLen), 0)])
	}
	return s
}

func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "item"
	}
	return b.String()
}

// bounds reads minimum/maximum and their exclusive forms (both the draft-04 boolean and the
// later numeric one).
func bounds(sch map[string]any) (lo float64, hasLo, loEx bool, hi float64, hasHi, hiEx bool) {
	lo, hasLo = toFloat(sch["minimum"])
	hi, hasHi = toFloat(sch["maximum"])
	if b, ok := sch["exclusiveMinimum"].(bool); ok {
		loEx = b && hasLo
	} else if x, ok := toFloat(sch["exclusiveMinimum"]); ok && (!hasLo || x >= lo) {
		lo, hasLo, loEx = x, true, true
	}
	if b, ok := sch["exclusiveMaximum"].(bool); ok {
		hiEx = b && hasHi
	} else if x, ok := toFloat(sch["exclusiveMaximum"]); ok && (!hasHi || x <= hi) {
		hi, hasHi, hiEx = x, true, true
	}
	return
}

func integer(sch map[string]any, variant int) any {
	lo, hasLo, loEx, hi, hasHi, hiEx := bounds(sch)
	var v float64
	switch {
	case hasLo:
		v = math.Ceil(lo)
		if loEx && v == lo {
			v++
		}
	case hasHi && hi <= 0:
		v = math.Floor(hi)
		if hiEx && v == hi {
			v--
		}
	}
	step := 1.0
	if m, ok := toFloat(sch["multipleOf"]); ok && m > 0 && m == math.Trunc(m) {
		step = m
		v = math.Ceil(v/m) * m
	}
	if w := v + float64(variant)*step; !hasHi || w < hi || (w == hi && !hiEx) {
		v = w
	}
	return int64(v)
}

func number(sch map[string]any, variant int) any {
	lo, hasLo, loEx, hi, hasHi, hiEx := bounds(sch)
	var v float64
	switch {
	case hasLo:
		v = lo
		if loEx {
			delta := 1.0
			if hasHi {
				delta = min(delta, (hi-lo)/2)
			}
			v += delta
		}
	case hasHi && hi <= 0:
		v = hi
		if hiEx {
			v--
		}
	}
	step := 1.0
	if m, ok := toFloat(sch["multipleOf"]); ok && m > 0 {
		step = m
		v = math.Ceil(v/m) * m
	}
	if w := v + float64(variant)*step; !hasHi || w < hi || (w == hi && !hiEx) {
		v = w
	}
	return v
}

// schemaType is the type to generate: the "type" keyword (the first non-null one of a list),
// else one inferred from the keywords present, else "" (a string is generated).
func schemaType(sch map[string]any) string {
	switch t := sch["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := sch[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("properties", "required", "additionalProperties", "minProperties"):
		return "object"
	case has("items", "prefixItems", "minItems", "maxItems"):
		return "array"
	case has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
		return "number"
	}
	return ""
}

func isNullOnly(schema any) bool {
	sch, ok := schema.(map[string]any)
	if !ok {
		return false
	}
	switch t := sch["type"].(type) {
	case string:
		return t == "null"
	case []any:
		return len(t) == 1 && t[0] == "null"
	}
	return false
}

// resolve follows a local reference ("#" or "#/json/pointer").
func (g *generator) resolve(ref string) (map[string]any, bool) {
	if ref == "#" {
		return g.root, true
	}
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = g.root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			cur, ok = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			ok = err == nil && i >= 0 && i < len(c)
			if ok {
				cur = c[i]
			}
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
	m, ok := cur.(map[string]any)
	return m, ok
}

// deref resolves schema's top-level $ref, if any, once.
func (g *generator) deref(schema any) any {
	sch, ok := schema.(map[string]any)
	if !ok {
		return schema
	}
	ref, ok := sch["$ref"].(string)
	if !ok {
		return sch
	}
	target, ok := g.resolve(ref)
	if !ok {
		return without(sch, "$ref")
	}
	return merge(without(sch, "$ref"), target)
}

func without(sch map[string]any, key string) map[string]any {
	m := maps.Clone(sch)
	delete(m, key)
	return m
}

// merge returns a copy of a overlaid with b: properties maps are united, required lists
// concatenated, any other key of b (a non-map b counts as {}) replaces a's.
func merge(a map[string]any, b any) map[string]any {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]any{}
	}
	bm, _ := b.(map[string]any)
	for k, v := range bm {
		switch k {
		case "properties":
			pa, _ := out[k].(map[string]any)
			pb, _ := v.(map[string]any)
			p := maps.Clone(pa)
			if p == nil {
				p = map[string]any{}
			}
			maps.Copy(p, pb)
			out[k] = p
		case "required":
			ra, _ := out[k].([]any)
			rb, _ := v.([]any)
			out[k] = append(slices.Clone(ra), rb...)
		default:
			out[k] = v
		}
	}
	return out
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}
