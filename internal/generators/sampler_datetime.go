package generators

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.DatetimeParams, r *rand.Rand, rows []int) (sampled, error) {
		times, err := sampleDatetime(r, p, len(rows))
		return sampled{kind: kindTime, times: times}, err
	})
}

// unitSeconds is the length of a fixed datetime/timedelta unit.
func unitSeconds(unit string) (int64, bool) {
	switch unit {
	case "", "D":
		return 86400, true
	case "h":
		return 3600, true
	case "m":
		return 60, true
	case "s":
		return 1, true
	}
	return 0, false
}

// addMonths moves t by m calendar months, clamping the day to the target month's length.
func addMonths(t time.Time, m int) time.Time {
	mo := int(t.Month()) - 1 + m
	y := t.Year() + mo/12
	mo %= 12
	if mo < 0 {
		mo += 12
		y--
	}
	month := time.Month(mo + 1)
	d := t.Day()
	if last := time.Date(y, month+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	return time.Date(y, month, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func sampleDatetime(r *rand.Rand, p *config.DatetimeParams, n int) ([]time.Time, error) {
	start, end := p.Start.UTC(), p.End.UTC()
	if !end.After(start) {
		return nil, fmt.Errorf("end %s is not after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	out := make([]time.Time, n)
	switch p.Unit {
	case "Y", "M":
		step := 1
		if p.Unit == "Y" {
			step = 12
		}
		// kmax is the last k with start + k·step months before end.
		kmax := ((end.Year()-start.Year())*12 + int(end.Month()) - int(start.Month())) / step
		for kmax > 0 && !addMonths(start, kmax*step).Before(end) {
			kmax--
		}
		for addMonths(start, (kmax+1)*step).Before(end) {
			kmax++
		}
		for i := range out {
			out[i] = addMonths(start, r.IntN(kmax+1)*step)
		}
	default:
		u, ok := unitSeconds(p.Unit)
		if !ok {
			return nil, fmt.Errorf("unsupported unit %q (want Y, M, D, h, m or s)", p.Unit)
		}
		// start + k·u < end  ⇔  k·u ≤ diff-1 when end has no more sub-second part than start.
		diff := end.Unix() - start.Unix()
		if end.Nanosecond() <= start.Nanosecond() {
			diff--
		}
		count := diff/u + 1
		s0, ns := start.Unix(), int64(start.Nanosecond())
		for i := range out {
			out[i] = time.Unix(s0+r.Int64N(count)*u, ns).UTC()
		}
	}
	return out, nil
}
