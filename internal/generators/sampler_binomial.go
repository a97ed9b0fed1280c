package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.BinomialParams, r *rand.Rand, rows []int) (sampled, error) {
		g := newBinomial(int64(p.N), p.P)
		out := make([]int64, len(rows))
		for i := range out {
			out[i] = g.draw(r)
		}
		return sampled{kind: kindInt, ints: out}, nil
	})
}
