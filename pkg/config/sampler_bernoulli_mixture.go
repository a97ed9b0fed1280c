package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerBernoulliMixture draws from a distribution with probability p, else 0: zero-inflated
// values.
const SamplerBernoulliMixture = "bernoulli_mixture"

func init() {
	registerSampler(SamplerBernoulliMixture, samplerSpec{decode: decodeBernoulliMixture, convert: convertNumeric})
}

// BernoulliMixtureParams: `p` in [0, 1] (the probability of a draw from the distribution),
// `dist_name`, `dist_params`.
type BernoulliMixtureParams struct {
	P    float64
	Dist Dist
}

func (*BernoulliMixtureParams) SamplerType() string  { return SamplerBernoulliMixture }
func (p *BernoulliMixtureParams) Output() frame.Type { return p.Dist.output() }

func (p *BernoulliMixtureParams) Check() error {
	var e paramErrs
	checkProbability(&e, p.P)
	p.Dist.check(&e)
	return e.err()
}

func decodeBernoulliMixture(f *fields) SamplerParams {
	p := &BernoulliMixtureParams{}
	p.P, _ = f.float("p", true)
	p.Dist = decodeDist(f)
	return p
}
