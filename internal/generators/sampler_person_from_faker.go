package generators

import (
	"math/rand/v2"
	"slices"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawFakerPerson) }

// Data Designer's fixed choices for made-up people (its person_constants).
var (
	maritalStatuses = []string{"married_present", "divorced", "never_married", "separated", "widowed"}
	educationLevels = []string{"secondary_education", "some_college", "bachelors", "associates", "graduate", "doctorate"}
	bachelorsFields = []string{"stem", "business", "education", "arts_humanities", "stem_related"}
	sexes           = []string{"Male", "Female"}
)

// drawFakerPerson makes up people with Data Designer's person_from_faker fields, in its order,
// from gofakeit (and go-faker's sex-specific first names), all from the column's stream.
func drawFakerPerson(d *draws, p *config.FakerPersonParams, r *rand.Rand, rows []int) (sampled, error) {
	f := gofakeit.NewFaker(r, false)
	out := make([]string, len(rows))
	lo, hi := p.AgeRange[0], p.AgeRange[1]
	for i := range rows {
		var rec record
		sex := p.Sex
		if sex == "" {
			sex = pick(r, sexes)
		}
		city := ""
		if len(p.City) > 0 {
			city = pick(r, p.City)
		} else {
			city = f.City()
		}
		age := lo + r.IntN(hi-lo+1)
		education := pick(r, educationLevels)
		bachelors := "no_degree"
		if slices.Contains([]string{"bachelors", "graduate", "doctorate"}, education) {
			bachelors = pick(r, bachelorsFields)
		}
		var phone any
		if age >= 18 {
			phone = f.PhoneFormatted()
		}
		rec.add("uuid", uuid4(r))
		rec.add("locale", p.Locale)
		rec.add("first_name", firstName(r, sex))
		rec.add("last_name", f.LastName())
		rec.add("middle_name", nil)
		rec.add("sex", sex)
		rec.add("street_number", f.StreetNumber())
		rec.add("street_name", f.StreetName())
		rec.add("city", city)
		rec.add("state", f.State())
		rec.add("postcode", f.Zip())
		rec.add("age", age)
		rec.add("birth_date", birthDate(r, age, d.asOf))
		rec.add("country", f.Country())
		rec.add("marital_status", pick(r, maritalStatuses))
		rec.add("education_level", education)
		rec.add("unit", "")
		rec.add("occupation", f.JobTitle())
		rec.add("phone_number", phone)
		rec.add("bachelors_field", bachelors)
		var err error
		if out[i], err = rec.json(); err != nil {
			return sampled{}, err
		}
	}
	return sampled{kind: kindStr, strs: out}, nil
}
