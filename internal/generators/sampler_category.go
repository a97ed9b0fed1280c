package generators

import (
	"math/rand/v2"
	"sort"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawCategory) }

// drawCategory draws values uniformly, or by weight through the cumulative weights.
func drawCategory(_ *draws, p *config.CategoryParams, r *rand.Rand, rows []int) (sampled, error) {
	k := len(p.Values)
	var cum []float64
	if p.Weights != nil {
		cum = make([]float64, k)
		total := 0.0
		for i, w := range p.Weights {
			total += w
			cum[i] = total
		}
	}
	out := make([]any, len(rows))
	for i := range out {
		var j int
		if cum == nil {
			j = r.IntN(k)
		} else {
			u := r.Float64() * cum[k-1]
			j = sort.Search(k, func(m int) bool { return cum[m] > u })
			if j == k { // u rounded up to the total
				j = k - 1
			}
		}
		out[i] = p.Values[j]
	}
	return sampled{kind: kindAny, anys: out}, nil
}
