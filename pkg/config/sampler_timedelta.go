package config

import (
	"fmt"

	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerTimedelta adds a random offset to a datetime column's instants.
const SamplerTimedelta = "timedelta"

func init() {
	registerSampler(SamplerTimedelta, samplerSpec{decode: decodeTimedelta, convert: convertTime})
}

// TimedeltaParams: `dt_min` ≥ 0, `dt_max` > dt_min, `reference_column_name` (a datetime
// column), `unit` (one of D h m s; default D). Values are the reference plus the delta.
type TimedeltaParams struct {
	DtMin, DtMax        int
	ReferenceColumnName string
	Unit                string
}

func (*TimedeltaParams) SamplerType() string { return SamplerTimedelta }
func (*TimedeltaParams) Output() frame.Type  { return frame.String }

func (p *TimedeltaParams) Check() error {
	var e paramErrs
	if p.DtMin < 0 {
		e.add("dt_min", "must be at least 0, got %d", p.DtMin)
	} else if p.DtMax <= p.DtMin {
		e.add("dt_max", "must be greater than dt_min (dt_min %d, dt_max %d)", p.DtMin, p.DtMax)
	}
	if p.ReferenceColumnName == "" {
		e.add("reference_column_name", "required")
	}
	checkUnit(&e, p.Unit, "D", "h", "m", "s")
	return e.err()
}

func (p *TimedeltaParams) reads() (string, string) {
	return "reference_column_name", p.ReferenceColumnName
}

func (p *TimedeltaParams) checkRead(target *Column) string {
	if target.SamplerType != SamplerDatetime && target.SamplerType != SamplerTimedelta {
		return fmt.Sprintf("%q is a %s sampler, want a datetime or timedelta sampler", target.Name, target.SamplerType)
	}
	return ""
}

func decodeTimedelta(f *fields) SamplerParams {
	p := &TimedeltaParams{}
	p.DtMin, _ = f.int("dt_min", true)
	p.DtMax, _ = f.int("dt_max", true)
	p.ReferenceColumnName, _ = f.str("reference_column_name", true)
	if p.Unit = unit(f); p.Unit == "" {
		p.Unit = "D"
	}
	return p
}
