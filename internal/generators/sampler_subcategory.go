package generators

import (
	"fmt"
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawSubcategory) }

// drawSubcategory draws, for each row, from the values listed for its parent's value there.
func drawSubcategory(d *draws, p *config.SubcategoryParams, r *rand.Rand, rows []int) (sampled, error) {
	parent, ok := d.raw[p.Category]
	if !ok {
		return sampled{}, fmt.Errorf("parent column %q is not a sampler drawn before it", p.Category)
	}
	out := make([]any, len(rows))
	for j, i := range rows {
		key := config.CategoryKey(parent.value(i))
		choices := p.Values[key]
		if len(choices) == 0 {
			return sampled{}, fmt.Errorf("row %d: no values for %q = %q", i, p.Category, key)
		}
		out[j] = choices[r.IntN(len(choices))]
	}
	return sampled{kind: kindAny, anys: out}, nil
}
