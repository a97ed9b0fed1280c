package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.ScipyParams, r *rand.Rand, rows []int) (sampled, error) {
		return drawDist(p.Dist, r, len(rows))
	})
}
