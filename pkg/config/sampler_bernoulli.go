package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerBernoulli draws 1 with probability p, else 0.
const SamplerBernoulli = "bernoulli"

func init() {
	registerSampler(SamplerBernoulli, samplerSpec{decode: decodeBernoulli, convert: convertNumeric})
}

// BernoulliParams: `p` in [0, 1].
type BernoulliParams struct{ P float64 }

func (*BernoulliParams) SamplerType() string { return SamplerBernoulli }
func (*BernoulliParams) Output() frame.Type  { return frame.Int }

func (p *BernoulliParams) Check() error {
	var e paramErrs
	checkProbability(&e, p.P)
	return e.err()
}

func decodeBernoulli(f *fields) SamplerParams {
	p := &BernoulliParams{}
	p.P, _ = f.float("p", true)
	return p
}
