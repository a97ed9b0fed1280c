package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerPerson draws people from Data Designer's managed Nemotron-Personas datasets.
const SamplerPerson = "person"

func init() {
	registerSampler(SamplerPerson, samplerSpec{decode: decodePerson, paramsOptional: true})
}

// PersonParams: `locale` (a managed dataset's), `sex`, `city`, `age_range`,
// `select_field_values` (field → allowed values) and `with_synthetic_personas`. Values are
// person records (JSON objects) that templates read field by field.
type PersonParams struct {
	PersonFilter
	SelectFieldValues     map[string][]string
	WithSyntheticPersonas bool
}

func (*PersonParams) SamplerType() string { return SamplerPerson }
func (*PersonParams) Output() frame.Type  { return frame.String }

func (p *PersonParams) Check() error {
	var e paramErrs
	if !slices.Contains(ManagedPersonLocales, p.Locale) {
		e.add("locale", "person sampling from managed datasets is only supported for the following locales: %s (got %q)",
			strings.Join(ManagedPersonLocales, ", "), p.Locale)
	}
	p.PersonFilter.check(&e)
	for _, k := range sortedKeys(p.SelectFieldValues) {
		switch {
		case !personFieldKnown(k):
			e.add("select_field_values."+k, "invalid field name %q: not a field of a managed person record", k)
		case len(p.SelectFieldValues[k]) == 0:
			e.add("select_field_values."+k, "must list at least one value")
		}
	}
	return e.err()
}

func decodePerson(f *fields) SamplerParams {
	p := &PersonParams{PersonFilter: decodePersonFilter(f)}
	p.WithSyntheticPersonas, _ = f.bool("with_synthetic_personas")
	if v, ok := f.get("select_field_values"); ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			f.errorf("select_field_values", "want a mapping from fields to lists of values, got %s", describe(v))
			return p
		}
		p.SelectFieldValues = map[string][]string{}
		for _, k := range sortedKeys(m) {
			list, isList := m[k].([]any)
			if !isList {
				f.errorf("select_field_values."+k, "want a list of values, got %s", describe(m[k]))
				continue
			}
			for i, x := range list {
				p.SelectFieldValues[k] = append(p.SelectFieldValues[k], CategoryKey(x))
				if _, ok := x.(string); !ok && x != nil {
					if _, num := number(x); !num {
						f.errorf(fmt.Sprintf("select_field_values.%s[%d]", k, i), "want a value, got %s", describe(x))
					}
				}
			}
		}
	}
	return p
}
