package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerCategory draws from a list of values, uniformly or by weight.
const SamplerCategory = "category"

func init() { registerSampler(SamplerCategory, samplerSpec{decode: decodeCategory}) }

// CategoryParams: `values` (str, int or float), `weights` normalized to sum 1 (nil: uniform).
type CategoryParams struct {
	Values  []any // string, int64 or float64, as the YAML gave them
	Weights []float64
}

func (*CategoryParams) SamplerType() string  { return SamplerCategory }
func (p *CategoryParams) Output() frame.Type { return valuesType(p.Values) }

func (p *CategoryParams) Check() error {
	var e paramErrs
	if len(p.Values) == 0 {
		e.add("values", "must list at least one value")
	}
	for i, v := range p.Values {
		switch v.(type) {
		case string, int64, float64:
		default:
			e.add("values["+itoa(i)+"]", "want a string or a number, got %s", describe(v))
		}
	}
	if len(p.Values) > 0 {
		checkWeights(&e, p.Weights, len(p.Values))
	}
	return e.err()
}

func (p *CategoryParams) normalize() { normalizeWeights(p.Weights) }

func (p *CategoryParams) listedValues() []any { return p.Values }

func decodeCategory(f *fields) SamplerParams {
	p := &CategoryParams{}
	if v, ok := f.required("values"); ok {
		p.Values = scalarList(f, "values", v)
	}
	if v, ok := f.get("weights"); ok {
		p.Weights = numberList(f, "weights", v)
	}
	return p
}
