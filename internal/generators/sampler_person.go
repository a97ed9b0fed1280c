package generators

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rowforge/rowforge/internal/persons"
	"github.com/rowforge/rowforge/pkg/config"
)

func init() { registerSampler(drawPerson) }

// PersonSource reads the managed person datasets (persons.Source).
type PersonSource interface {
	Pool(ctx context.Context, p *config.PersonParams, seed uint64, max int) ([]persons.Record, int, error)
}

// DefaultPersonPool is how many matching records a person sampler keeps to draw from.
const DefaultPersonPool = 20_000

// personPool is the sample of a person sampler's matching records, read when the run starts.
type personPool struct {
	records []persons.Record
	matched int
}

// loadPersonPools reads the pool of every person params of cols.
func loadPersonPools(cols []*config.Column, opts SamplerOptions) (map[*config.PersonParams]*personPool, error) {
	pools := map[*config.PersonParams]*personPool{}
	for _, col := range cols {
		all := []config.SamplerParams{col.Params}
		for _, c := range col.Conditional {
			all = append(all, c.Params)
		}
		for _, sp := range all {
			p, ok := sp.(*config.PersonParams)
			if !ok {
				continue
			}
			if opts.Persons == nil {
				return nil, fmt.Errorf("column %q: person sampler: no managed-assets folder is known", col.Name)
			}
			size := opts.PersonPool
			if size <= 0 {
				size = DefaultPersonPool
			}
			recs, matched, err := opts.Persons.Pool(context.Background(), p, opts.Seed, size)
			if err != nil {
				return nil, fmt.Errorf("column %q: person sampler: %w", col.Name, err)
			}
			pools[p] = &personPool{records: recs, matched: matched}
		}
	}
	return pools, nil
}

// drawPerson draws distinct people of the column's pool for the rows (Data Designer samples
// without replacement in one draw, and fails when fewer people match than it needs), and
// derives the fields Data Designer derives: birth date, email address, and for en_US a
// phone number, a national id and the region renamed state.
func drawPerson(d *draws, p *config.PersonParams, r *rand.Rand, rows []int) (sampled, error) {
	pool := d.persons[p]
	if pool == nil {
		return sampled{}, fmt.Errorf("no person pool for the params (internal error)")
	}
	if len(pool.records) < len(rows) {
		return sampled{}, fmt.Errorf("only %d samples could be generated with the given settings (locale %s, sex %q, city %v, age_range %v, select_field_values %v): "+
			"the filter values are too strict for %d rows; loosen them", len(pool.records), p.Locale, p.Sex, p.City, p.AgeRange, p.SelectFieldValues, len(rows))
	}
	picked := r.Perm(len(pool.records))[:len(rows)]
	out := make([]string, len(rows))
	for i, idx := range picked {
		rec := derivePerson(pool.records[idx], p, r, d.asOf)
		var err error
		if out[i], err = rec.json(); err != nil {
			return sampled{}, err
		}
	}
	return sampled{kind: kindStr, strs: out}, nil
}

// derivePerson builds the output record of a managed person.
func derivePerson(src persons.Record, p *config.PersonParams, r *rand.Rand, asOf time.Time) record {
	us := p.Locale == "en_US"
	var rec, persona record
	for _, f := range src {
		switch {
		case us && f.Name == "region":
		case slices.Contains(config.PersonaFields, f.Name):
			persona.add(f.Name, f.Value)
		default:
			rec.add(f.Name, f.Value)
		}
	}
	rec.set("locale", p.Locale)
	age, _ := src.Get("age").(int64)
	born := birthDate(r, int(age), asOf)
	rec.set("birth_date", born)
	year, _ := strconv.Atoi(born[:4])
	adult := age >= 18
	if us {
		var phone, ssn any
		if adult && src.Get("postcode") != nil {
			phone = fmt.Sprintf("%03d-%03d-%04d", 200+r.IntN(800), 200+r.IntN(800), r.IntN(10000))
		}
		if src.Get("region") != nil {
			area := 1 + r.IntN(899)
			for area == 666 {
				area = 1 + r.IntN(899)
			}
			ssn = fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
		}
		rec.set("phone_number", phone)
		rec.set("email_address", email(r, src, int(age), adult, year))
		rec.set("national_id", ssn)
		rec.set("state", src.Get("region"))
	} else {
		rec.set("phone_number", nil)
		rec.set("email_address", email(r, src, int(age), adult, year))
		rec.set("national_id", nil)
	}
	for i, k := range persona.keys {
		rec.add(k, persona.vals[i])
	}
	return rec
}

var nameChars = regexp.MustCompile(`[^a-z0-9]`)

// Data Designer's email domains and their weights by age (under 30, under 50, 50 and over).
var (
	emailDomains = []string{"gmail.com", "icloud.com", "outlook.com", "hotmail.com", "yahoo.com", "protonmail.com", "zoho.com", "gmx.com", "aol.com"}
	domainWeight = [3][]float64{
		{710, 300, 50, 40, 35, 20, 3, 3, 0.1},
		{360, 270, 60, 50, 60, 18, 7, 4, 0.3},
		{430, 280, 90, 110, 135, 12, 5, 4, 1.1},
	}
)

// email makes an address from the person's names, age and birth year as Data Designer does;
// none for a minor. Names are reduced to ASCII letters and digits (Data Designer transliterates
// first, so a name in another script gets no address here).
func email(r *rand.Rand, src persons.Record, age int, adult bool, year int) any {
	if !adult {
		return nil
	}
	clean := func(v any) string {
		s, _ := v.(string)
		return nameChars.ReplaceAllString(strings.ToLower(s), "")
	}
	first, last, middle := clean(src.Get("first_name")), clean(src.Get("last_name")), clean(src.Get("middle_name"))
	if first == "" || last == "" {
		return nil
	}
	patterns := []string{first + "." + last, first + last, first[:1] + last, first + "_" + last, last + first[:1], first + last[:1]}
	weights := []float64{.3, .2, .15, .1, .15, .1}
	if middle != "" {
		patterns = append(patterns, first+middle, first+middle[:1]+last, first+middle+last)
		weights = []float64{.25, .17, .12, .08, .12, .08, .06, .06, .06}
	}
	user := patterns[weighted(r, weights)]
	switch weighted(r, []float64{.4, .3, .1, .1, .1}) {
	case 1:
		user += strconv.Itoa(1 + r.IntN(99))
	case 2:
		user += fmt.Sprintf("%02d", year%100)
	case 3:
		user += strconv.Itoa(year)
	case 4:
		user += strconv.Itoa(1 + r.IntN(28))
	}
	bucket := 2
	switch {
	case age < 30:
		bucket = 0
	case age < 50:
		bucket = 1
	}
	return user + "@" + emailDomains[weighted(r, domainWeight[bucket])]
}

// asOfYear is a birth year for the age (the email suffix's year; precision does not matter).
func asOfYear(age int) int { return time.Now().Year() - age }

// weighted draws an index with probability proportional to its weight.
func weighted(r *rand.Rand, w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	u := r.Float64() * total
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}
