package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.UniformParams, r *rand.Rand, rows []int) (sampled, error) {
		out := make([]float64, len(rows))
		span := p.High - p.Low
		for i := range out {
			out[i] = p.Low + r.Float64()*span
		}
		return sampled{kind: kindFloat, floats: out}, nil
	})
}
