package config

import (
	"fmt"
	"slices"
	"strings"
)

// ManagedPersonLocales are the locales of Data Designer's managed Nemotron-Personas datasets,
// the only ones the person sampler takes.
var ManagedPersonLocales = []string{"en_US", "en_IN", "en_SG", "fr_FR", "hi_Deva_IN", "hi_Latn_IN", "ja_JP", "ko_KR", "pt_BR"}

// fakerLocales are Faker's locales, which Data Designer's person_from_faker takes.
var fakerLocales = strings.Fields(`ar_AA ar_AE ar_BH ar_EG ar_JO ar_PS ar_SA az_AZ bg_BG bn_BD bs_BA cs_CZ da_DK de de_AT
	de_CH de_DE dk_DK el_CY el_GR en en_AU en_BD en_CA en_GB en_IE en_IN en_NZ en_PH en_TH en_US es es_AR es_CA es_CL
	es_CO es_ES es_MX et_EE fa_IR fi_FI fil_PH fr_BE fr_CA fr_CH fr_FR ga_IE he_IL hi_IN hr_HR hu_HU hy_AM id_ID it_CH
	it_IT ja_JP ka_GE ko_KR la lb_LU lt_LT lv_LV mt_MT ne_NP nl_BE nl_NL no_NO or_IN pl_PL pt_BR pt_PT ro_RO ru_RU sk_SK
	sl_SI sq_AL sv_SE ta_IN th th_TH tl_PH tr_TR tw_GH uk_UA vi_VN zh_CN zh_TW zu_ZA`)

// FakerServedLocales are the locales rowforge's person_from_faker draws: gofakeit's data are
// American English. Another locale is refused by name, not served in English.
var FakerServedLocales = []string{"en_US"}

// PersonPIIFields are a managed person record's fields, in Data Designer's order; the
// locale-specific ones appear only where the dataset has them.
var PersonPIIFields = strings.Fields(`uuid first_name middle_name last_name sex age marital_status postcode city
	district region country street_name street_number unit bachelors_field education_level occupation locale
	birth_date state email_address phone_number national_id ethnic_background industry preferred_english_name
	first_name_heritage name_heritage is_first_gen_immigrant household_type monthly_income_eur area
	blood_pressure_status blood_sugar_status bmi_status drinking_status economic_activity_status family_type
	housing_tenure housing_type income_bracket military_status smoking_status waist_status race education_degree
	first_language second_language third_language zone religion`)

// PersonaFields are the synthetic persona fields a managed record adds with
// with_synthetic_personas.
var PersonaFields = strings.Fields(`persona detailed_persona professional_persona career_goals_and_ambitions
	cultural_background arts_persona culinary_persona finance_persona healthcare_persona sports_persona
	travel_persona hobbies_and_interests hobbies_and_interests_list skills_and_expertise skills_and_expertise_list
	openness conscientiousness extraversion agreeableness neuroticism aspects digital_skill family_persona
	religious_persona religious_background linguistic_persona linguistic_background`)

// Person filters shared by person and person_from_faker.
type PersonFilter struct {
	Locale   string
	Sex      string   // "", "Male" or "Female"
	City     []string // any of them; nil: any city
	AgeRange [2]int   // inclusive
}

// defaultAgeRange is Data Designer's [MIN_AGE+18, MAX_AGE].
var defaultAgeRange = [2]int{18, 114}

const maxPersonAge = 114

func decodePersonFilter(f *fields) PersonFilter {
	pf := PersonFilter{Locale: "en_US", AgeRange: defaultAgeRange}
	if l, ok := f.str("locale", false); ok {
		pf.Locale = l
	}
	if s, ok := f.str("sex", false); ok {
		pf.Sex = s
	}
	if v, ok := f.get("city"); ok {
		switch x := v.(type) {
		case string:
			pf.City = []string{x}
		case []any:
			for i, c := range x {
				s, ok := c.(string)
				if !ok {
					f.errorf(fmt.Sprintf("city[%d]", i), "want a city name, got %s", describe(c))
					continue
				}
				pf.City = append(pf.City, s)
			}
		default:
			f.errorf("city", "want a city name or a list of them, got %s", describe(v))
		}
	}
	if v, ok := f.get("age_range"); ok {
		list, isList := v.([]any)
		if !isList || len(list) != 2 {
			f.errorf("age_range", "'age_range' must be a list of two integers, representing the min and max age, got %s", describe(v))
		} else {
			for i, a := range list {
				n, ok := integer(a)
				if !ok {
					f.errorf(fmt.Sprintf("age_range[%d]", i), "want an integer, got %s", describe(a))
				}
				pf.AgeRange[i] = n
			}
		}
	}
	return pf
}

// check reports the filter's problems with Data Designer's rules.
func (pf PersonFilter) check(e *paramErrs) {
	if pf.Sex != "" && pf.Sex != "Male" && pf.Sex != "Female" {
		e.add("sex", "want Male, Female or null, got %q", pf.Sex)
	}
	lo, hi := pf.AgeRange[0], pf.AgeRange[1]
	const prefix = "'age_range' must be a list of two integers, representing the min and max age."
	switch {
	case lo < 0:
		e.add("age_range", "%s The first integer (min age) must be greater than or equal to 0, but the first integer provided was %d.", prefix, lo)
	case hi > maxPersonAge:
		e.add("age_range", "%s The second integer (max age) must be less than or equal to %d, but the second integer provided was %d.", prefix, maxPersonAge, hi)
	case lo >= hi:
		e.add("age_range", "%s The first integer (min age) must be less than the second integer (max age), but the first integer provided was %d and the second integer provided was %d.", prefix, lo, hi)
	}
	for i, c := range pf.City {
		if strings.TrimSpace(c) == "" {
			e.add(fmt.Sprintf("city[%d]", i), "must not be empty")
		}
	}
}

// personFieldKnown reports whether select_field_values may filter on field.
func personFieldKnown(field string) bool {
	return slices.Contains(PersonPIIFields, field) || slices.Contains(PersonaFields, field)
}
