package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.GaussianParams, r *rand.Rand, rows []int) (sampled, error) {
		out := make([]float64, len(rows))
		for i := range out {
			out[i] = p.Mean + p.Stddev*r.NormFloat64()
		}
		return sampled{kind: kindFloat, floats: out}, nil
	})
}
