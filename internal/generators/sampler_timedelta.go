package generators

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawTimedelta) }

// drawTimedelta adds dt_min ≤ k < dt_max units to each row's reference instant.
func drawTimedelta(d *draws, p *config.TimedeltaParams, r *rand.Rand, rows []int) (sampled, error) {
	u, _ := unitSeconds(p.Unit)
	ref, ok := d.raw[p.ReferenceColumnName]
	if !ok || ref.kind != kindTime {
		return sampled{}, fmt.Errorf("reference column %q is not a datetime sampler drawn before it", p.ReferenceColumnName)
	}
	span := int64(p.DtMax - p.DtMin)
	out := make([]time.Time, len(rows))
	for j, i := range rows {
		k := int64(p.DtMin) + r.Int64N(span)
		t := ref.times[i]
		out[j] = time.Unix(t.Unix()+k*u, int64(t.Nanosecond())).UTC()
	}
	return sampled{kind: kindTime, times: out}, nil
}
