package config

import (
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerGaussian draws floats from a normal distribution.
const SamplerGaussian = "gaussian"

func init() {
	registerSampler(SamplerGaussian, samplerSpec{decode: decodeGaussian, convert: convertNumeric})
}

// GaussianParams: `mean`, `stddev` (> 0), `decimal_places`.
type GaussianParams struct {
	Mean, Stddev  float64
	DecimalPlaces *int
}

func (*GaussianParams) SamplerType() string { return SamplerGaussian }
func (*GaussianParams) Output() frame.Type  { return frame.Float }

// Check wants stddev > 0: Data Designer draws with scipy's norm(loc=mean, scale=stddev), which
// refuses a scale of 0.
func (p *GaussianParams) Check() error {
	var e paramErrs
	checkFinite(&e, "mean", p.Mean)
	if checkFinite(&e, "stddev", p.Stddev) && !(p.Stddev > 0) {
		e.add("stddev", "must be greater than 0, got %s", pyfmt.Float(p.Stddev))
	}
	checkDecimalPlaces(&e, p.DecimalPlaces)
	return e.err()
}

func decodeGaussian(f *fields) SamplerParams {
	p := &GaussianParams{}
	p.Mean, _ = f.float("mean", true)
	p.Stddev, _ = f.float("stddev", true)
	p.DecimalPlaces = decimalPlaces(f)
	return p
}

// Places is decimal_places: values are rounded to it last, after convert_to.
func (p *GaussianParams) Places() *int { return p.DecimalPlaces }
