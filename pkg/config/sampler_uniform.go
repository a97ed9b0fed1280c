package config

import (
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerUniform draws floats uniformly from [low, high).
const SamplerUniform = "uniform"

func init() {
	registerSampler(SamplerUniform, samplerSpec{decode: decodeUniform, convert: convertNumeric})
}

// UniformParams: `low`, `high` (> low), `decimal_places`.
type UniformParams struct {
	Low, High     float64
	DecimalPlaces *int
}

func (*UniformParams) SamplerType() string { return SamplerUniform }
func (*UniformParams) Output() frame.Type  { return frame.Float }

// Check wants low < high: Data Designer draws with scipy's uniform(loc=low, scale=high-low),
// which refuses a scale of 0.
func (p *UniformParams) Check() error {
	var e paramErrs
	if checkFinite(&e, "low", p.Low) && checkFinite(&e, "high", p.High) && !(p.Low < p.High) {
		e.add("high", "must be greater than low (low %s, high %s)", pyfmt.Float(p.Low), pyfmt.Float(p.High))
	}
	checkDecimalPlaces(&e, p.DecimalPlaces)
	return e.err()
}

func decodeUniform(f *fields) SamplerParams {
	p := &UniformParams{}
	p.Low, _ = f.float("low", true)
	p.High, _ = f.float("high", true)
	p.DecimalPlaces = decimalPlaces(f)
	return p
}

// Places is decimal_places: values are rounded to it last, after convert_to.
func (p *UniformParams) Places() *int { return p.DecimalPlaces }
