package config

import (
	"fmt"

	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerSubcategory draws, for each row, from the values listed for its parent category.
const SamplerSubcategory = "subcategory"

func init() { registerSampler(SamplerSubcategory, samplerSpec{decode: decodeSubcategory}) }

// SubcategoryParams: `category` (the parent column) and `values` (parent value → choices).
// Parent values are keyed by their string form, as Data Designer's JSON normalization does.
type SubcategoryParams struct {
	Category string
	Values   map[string][]any
}

func (*SubcategoryParams) SamplerType() string { return SamplerSubcategory }

func (p *SubcategoryParams) Output() frame.Type { return valuesType(p.listedValues()) }

func (p *SubcategoryParams) listedValues() []any {
	var all []any
	for _, vs := range p.Values {
		all = append(all, vs...)
	}
	return all
}

func (p *SubcategoryParams) Check() error {
	var e paramErrs
	if p.Category == "" {
		e.add("category", "required")
	}
	for _, k := range sortedKeys(p.Values) {
		if len(p.Values[k]) == 0 {
			e.add("values."+k, "must list at least one value")
		}
	}
	return e.err()
}

func (p *SubcategoryParams) reads() (string, string) { return "category", p.Category }

// checkRead checks that the parent is a category sampler with values for each of its values.
func (p *SubcategoryParams) checkRead(target *Column) string {
	if target.SamplerType != SamplerCategory {
		return fmt.Sprintf("%q is a %s sampler, want a category sampler", target.Name, target.SamplerType)
	}
	return ""
}

// parentMismatch lists the parent's values (over its params and conditional params) that
// have no choices here, and the keys here that are none of the parent's values: Data Designer
// wants them to be the same set.
func (p *SubcategoryParams) parentMismatch(parent *Column) (missing, extra []string) {
	if p.Values == nil {
		return nil, nil
	}
	parentValues := map[string]bool{}
	for _, cp := range append([]SamplerParams{parent.Params}, conditionalParams(parent)...) {
		cat, ok := cp.(*CategoryParams)
		if !ok {
			return nil, nil
		}
		for _, v := range cat.Values {
			k := CategoryKey(v)
			if _, ok := p.Values[k]; !ok && !parentValues[k] {
				missing = append(missing, k)
			}
			parentValues[k] = true
		}
	}
	for _, k := range sortedKeys(p.Values) {
		if !parentValues[k] {
			extra = append(extra, k)
		}
	}
	return missing, extra
}

func decodeSubcategory(f *fields) SamplerParams {
	p := &SubcategoryParams{}
	p.Category, _ = f.str("category", true)
	m, ok := f.mapping("values", true, fmt.Sprintf("a mapping from each value of %q to a list of values", p.Category))
	if !ok {
		return p
	}
	p.Values = make(map[string][]any, len(m))
	for _, k := range sortedKeys(m) {
		if vs := scalarList(f, "values."+k, m[k]); vs != nil {
			p.Values[k] = vs
		}
	}
	return p
}
