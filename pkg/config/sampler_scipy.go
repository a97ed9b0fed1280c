package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerScipy draws from a named scipy.stats distribution (see distributions).
const SamplerScipy = "scipy"

func init() {
	registerSampler(SamplerScipy, samplerSpec{decode: decodeScipy, convert: convertNumeric})
}

// ScipyParams: `dist_name`, `dist_params`, `decimal_places`.
type ScipyParams struct {
	Dist          Dist
	DecimalPlaces *int
}

func (*ScipyParams) SamplerType() string  { return SamplerScipy }
func (p *ScipyParams) Output() frame.Type { return p.Dist.output() }

// Places is decimal_places: values are rounded to it last, after convert_to.
func (p *ScipyParams) Places() *int { return p.DecimalPlaces }

func (p *ScipyParams) Check() error {
	var e paramErrs
	p.Dist.check(&e)
	checkDecimalPlaces(&e, p.DecimalPlaces)
	return e.err()
}

func decodeScipy(f *fields) SamplerParams {
	return &ScipyParams{Dist: decodeDist(f), DecimalPlaces: decimalPlaces(f)}
}
