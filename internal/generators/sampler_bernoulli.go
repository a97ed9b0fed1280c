package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.BernoulliParams, r *rand.Rand, rows []int) (sampled, error) {
		out := make([]int64, len(rows))
		for i := range out {
			if r.Float64() < p.P {
				out[i] = 1
			}
		}
		return sampled{kind: kindInt, ints: out}, nil
	})
}
