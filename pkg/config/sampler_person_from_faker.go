package config

import (
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerPersonFromFaker draws made-up people: names, address, age and birth date, job.
const SamplerPersonFromFaker = "person_from_faker"

func init() {
	registerSampler(SamplerPersonFromFaker, samplerSpec{decode: decodeFakerPerson, paramsOptional: true})
}

// FakerPersonParams: `locale`, `sex`, `city`, `age_range`. Values are person records (JSON
// objects) that templates read field by field: {{ customer.first_name }}.
type FakerPersonParams struct{ PersonFilter }

func (*FakerPersonParams) SamplerType() string { return SamplerPersonFromFaker }
func (*FakerPersonParams) Output() frame.Type  { return frame.String }

func (p *FakerPersonParams) Check() error {
	var e paramErrs
	switch {
	case !slices.Contains(fakerLocales, p.Locale):
		e.add("locale", "locale %q is not a supported locale (Faker's locales: %s)", p.Locale, strings.Join(fakerLocales, ", "))
	case !slices.Contains(FakerServedLocales, p.Locale):
		e.add("locale", "locale %q is not served by rowforge's person_from_faker, which draws %s people only; for other locales use sampler_type person with a managed Nemotron-Personas dataset (%s)",
			p.Locale, strings.Join(FakerServedLocales, ", "), strings.Join(ManagedPersonLocales, ", "))
	}
	p.PersonFilter.check(&e)
	return e.err()
}

func decodeFakerPerson(f *fields) SamplerParams {
	return &FakerPersonParams{PersonFilter: decodePersonFilter(f)}
}
