package config

import (
	"fmt"
	"strings"
)

// Conditional is one entry of a sampler column's conditional_params.
type Conditional struct {
	// Condition is the key as written: a bare Jinja expression over other columns
	// (`age > 65`); a row takes Params when `{{ Condition }}` renders "True".
	Condition string
	// Template is `{{ Condition }}`, the template that is rendered.
	Template string
	// Inputs are the columns the condition reads, sorted.
	Inputs []string
	Params SamplerParams
}

// parseConditional decodes conditional_params: condition → params of the column's sampler
// type (a mapping that lacks sampler_type gets the column's, as Data Designer injects it).
func parseConditional(f *fields, index int, col *Column, spec samplerSpec) {
	v, ok := f.get("conditional_params")
	if !ok || col.SamplerType == "" {
		return
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.errorf("conditional_params", "want a mapping from conditions to params, got %s", describe(v))
		return
	}
	for _, cond := range conditionOrder(f.p.order[fmt.Sprintf("columns[%d].conditional_params", index)], m) {
		key := fmt.Sprintf("conditional_params[%s]", cond)
		c := &Conditional{Condition: cond, Template: "{{ " + cond + " }}"}
		if strings.TrimSpace(cond) == "" {
			f.errorf(key, "the condition must not be blank")
			continue
		}
		refs, err := TemplateRefs(c.Template)
		if err != nil {
			f.errorf(key, "invalid condition: %v", err)
			continue
		}
		c.Inputs = refs
		pm, isMap := m[cond].(map[string]any)
		if !isMap {
			f.errorf(key, "want a params mapping, got %s", describe(m[cond]))
			continue
		}
		if c.Params = decodeSamplerParams(f, col.Name, key+".", col.SamplerType, spec, pm); c.Params == nil {
			continue
		}
		col.Conditional = append(col.Conditional, c)
	}
}

// conditionOrder lists m's keys in the document's order, then any it does not list (a config
// given as values rather than text), sorted.
func conditionOrder(doc []string, m map[string]any) []string {
	var keys []string
	seen := map[string]bool{}
	for _, k := range doc {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, k := range sortedKeys(m) {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	return keys
}
