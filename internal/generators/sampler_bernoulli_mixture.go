package generators

import (
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawBernoulliMixture) }

// drawBernoulliMixture keeps a draw of the distribution with probability p and writes 0
// otherwise. Both are drawn for every row, as Data Designer multiplies the two arrays, so a
// row's value does not depend on whether the rows before it were zero.
func drawBernoulliMixture(_ *draws, p *config.BernoulliMixtureParams, r *rand.Rand, rows []int) (sampled, error) {
	v, err := drawDist(p.Dist, r, len(rows))
	if err != nil {
		return v, err
	}
	for i := range rows {
		if r.Float64() < p.P {
			continue
		}
		if v.kind == kindInt {
			v.ints[i] = 0
		} else {
			v.floats[i] = 0
		}
	}
	return v, nil
}
