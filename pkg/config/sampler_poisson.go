package config

import (
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerPoisson draws event counts.
const SamplerPoisson = "poisson"

func init() {
	registerSampler(SamplerPoisson, samplerSpec{decode: decodePoisson, convert: convertNumeric})
}

// PoissonParams: `mean` > 0.
type PoissonParams struct{ Mean float64 }

func (*PoissonParams) SamplerType() string { return SamplerPoisson }
func (*PoissonParams) Output() frame.Type  { return frame.Int }

// maxPoissonMean bounds the mean where draws still fit an int64 with room to spare.
const maxPoissonMean = 1e15

// Check wants a mean in (0, 1e15]: Data Designer documents the mean as positive.
func (p *PoissonParams) Check() error {
	var e paramErrs
	if !(p.Mean > 0 && p.Mean <= maxPoissonMean) {
		e.add("mean", "must be greater than 0 and at most 1e15, got %s", pyfmt.Float(p.Mean))
	}
	return e.err()
}

func decodePoisson(f *fields) SamplerParams {
	p := &PoissonParams{}
	p.Mean, _ = f.float("mean", true)
	return p
}
