package config

import (
	"time"

	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerDatetime draws instants in [start, end) on a grid of unit.
const SamplerDatetime = "datetime"

func init() {
	registerSampler(SamplerDatetime, samplerSpec{decode: decodeDatetime, convert: convertTime})
}

// DatetimeParams: `start`, `end` (exclusive), `unit` (one of Y M D h m s; default D).
type DatetimeParams struct {
	Start, End time.Time
	Unit       string
}

func (*DatetimeParams) SamplerType() string { return SamplerDatetime }
func (*DatetimeParams) Output() frame.Type  { return frame.String }

func (p *DatetimeParams) Check() error {
	var e paramErrs
	if !p.Start.Before(p.End) {
		e.add("end", "must be after start (the end is exclusive)")
	}
	checkUnit(&e, p.Unit, "Y", "M", "D", "h", "m", "s")
	return e.err()
}

func decodeDatetime(f *fields) SamplerParams {
	p := &DatetimeParams{}
	bound := func(key string) time.Time {
		s, ok := f.str(key, true)
		if !ok {
			return time.Time{}
		}
		t, ok := parseTime(s)
		if !ok {
			f.errorf(key, "%q is not a date or time (want e.g. 2024-01-31, 2024-01-31 12:00:00 or 2024-01-31T12:00:00Z)", s)
		}
		return t
	}
	p.Start, p.End = bound("start"), bound("end")
	if p.Unit = unit(f); p.Unit == "" {
		p.Unit = "D"
	}
	return p
}
