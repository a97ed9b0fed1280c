package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerBinomial draws the number of successes in n trials.
const SamplerBinomial = "binomial"

func init() {
	registerSampler(SamplerBinomial, samplerSpec{decode: decodeBinomial, convert: convertNumeric})
}

// BinomialParams: `n` ≥ 0, `p` in [0, 1].
type BinomialParams struct {
	N int
	P float64
}

func (*BinomialParams) SamplerType() string { return SamplerBinomial }
func (*BinomialParams) Output() frame.Type  { return frame.Int }

func (p *BinomialParams) Check() error {
	var e paramErrs
	if p.N < 0 {
		e.add("n", "must be at least 0, got %d", p.N)
	}
	checkProbability(&e, p.P)
	return e.err()
}

func decodeBinomial(f *fields) SamplerParams {
	p := &BinomialParams{}
	p.N, _ = f.int("n", true)
	p.P, _ = f.float("p", true)
	return p
}
