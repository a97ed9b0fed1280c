package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.PoissonParams, r *rand.Rand, rows []int) (sampled, error) {
		g := newPoisson(p.Mean)
		out := make([]int64, len(rows))
		for i := range out {
			out[i] = g.draw(r)
		}
		return sampled{kind: kindInt, ints: out}, nil
	})
}
