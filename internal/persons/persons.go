// Package persons reads Data Designer's managed Nemotron-Personas datasets for the person
// sampler: one Parquet file per locale, <assets>/datasets/<locale>.parquet, in Data
// Designer's managed-assets layout. A run reads a dataset once, streaming, keeping a seeded
// sample of the records that match a sampler's filters; the sampler draws from that sample.
package persons

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// EnvAssets names the folder of the managed assets (it holds datasets/<locale>.parquet).
const EnvAssets = "ROWFORGE_ASSETS"

// Source finds managed person datasets.
type Source struct {
	dirs []string // managed-assets folders, in the order they are looked in
}

// NewSource looks in assets when given, else in $ROWFORGE_ASSETS, then where Data Designer
// keeps them ($DATA_DESIGNER_MANAGED_ASSETS_PATH, $DATA_DESIGNER_HOME/managed-assets,
// ~/.data-designer/managed-assets), so that datasets downloaded for Data Designer serve too.
func NewSource(assets string) *Source {
	if assets != "" {
		return &Source{dirs: []string{assets}}
	}
	var dirs []string
	for _, env := range []string{EnvAssets, "DATA_DESIGNER_MANAGED_ASSETS_PATH"} {
		if d := os.Getenv(env); d != "" {
			dirs = append(dirs, d)
		}
	}
	if h := os.Getenv("DATA_DESIGNER_HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, "managed-assets"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".data-designer", "managed-assets"))
	}
	return &Source{dirs: dirs}
}

// Field is one field of a record.
type Field struct {
	Name  string
	Value any // nil, string, int64, float64 or bool
}

// Record is a person of a managed dataset: its fields in the dataset's order, those of
// Data Designer's person fields only (persona fields only when asked for).
type Record []Field

// Get returns the named field's value, or nil.
func (r Record) Get(name string) any {
	for _, f := range r {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// path finds locale's dataset.
func (s *Source) path(locale string) (string, error) {
	for _, d := range s.dirs {
		p := filepath.Join(d, "datasets", locale+".parquet")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	where := "no folder (set --assets or " + EnvAssets + ")"
	if len(s.dirs) > 0 {
		where = strings.Join(s.dirs, ", ")
	}
	return "", fmt.Errorf("the managed Nemotron-Personas dataset for locale %s is not here: looked for datasets/%s.parquet in %s. "+
		"Download it (Data Designer's `data-designer download personas --locale %s`, or the Nemotron-Personas dataset for the locale on Hugging Face) "+
		"and put %s.parquet in <folder>/datasets/, then point --assets or %s at <folder>",
		locale, locale, where, locale, locale, EnvAssets)
}

// Pool reads the dataset of p.Locale and returns a seeded uniform sample of at most max of
// the records that match p's filters (sex, city, age range, select_field_values), and how
// many matched. Records hold Data Designer's person fields, the dataset's region under its
// own name.
func (s *Source) Pool(ctx context.Context, p *config.PersonParams, seed uint64, max int) ([]Record, int, error) {
	path, err := s.path(p.Locale)
	if err != nil {
		return nil, 0, err
	}
	ds, err := seeddata.Open(ctx, &config.SeedConfig{Source: config.SeedSource{Type: config.SeedLocal, Path: path},
		Sampling: config.SamplingOrdered}, seeddata.Options{})
	if err != nil {
		return nil, 0, fmt.Errorf("person dataset %s: %w", path, err)
	}
	cols := ds.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	for _, req := range []string{"first_name", "last_name", "age"} {
		if !slices.Contains(names, req) {
			return nil, 0, fmt.Errorf("person dataset %s: the field %q is missing (its fields: %s)", path, req, strings.Join(names, ", "))
		}
	}
	match, err := newMatcher(p, names)
	if err != nil {
		return nil, 0, fmt.Errorf("person dataset %s: %w", path, err)
	}
	keep := func(name string) bool {
		return slices.Contains(config.PersonPIIFields, name) || (p.WithSyntheticPersonas && slices.Contains(config.PersonaFields, name))
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%v|%v|%v|%v|%v", p.Locale, p.Sex, p.City, p.AgeRange, p.SelectFieldValues, p.WithSyntheticPersonas)
	r := rand.New(rand.NewPCG(seed, h.Sum64()))

	rd := ds.Reader(0)
	defer rd.Close()
	var pool []Record
	matched := 0
	for off := int64(0); off < ds.Len(); {
		n := int(min(4096, ds.Len()-off))
		f, err := rd.Rows(ctx, off, n)
		if err != nil {
			return nil, 0, fmt.Errorf("person dataset %s: %w", path, err)
		}
		off += int64(n)
		for i := range f.Len() {
			if !match(f, i) {
				continue
			}
			matched++
			slot := len(pool)
			if len(pool) >= max { // reservoir sampling (Algorithm R)
				if slot = r.IntN(matched); slot >= max {
					continue
				}
			}
			rec := record(f, i, keep)
			if slot == len(pool) {
				pool = append(pool, rec)
			} else {
				pool[slot] = rec
			}
		}
	}
	return pool, matched, nil
}

func record(f *frame.Frame, i int, keep func(string) bool) Record {
	var rec Record
	for _, c := range f.Columns() {
		if keep(c.Name) {
			rec = append(rec, Field{Name: c.Name, Value: nested(c.Value(i))})
		}
	}
	return rec
}

// nested keeps a struct or list field (which the seed reader turns into JSON text) as JSON, so
// that it stays an object in the person record: {{ p.openness.label }}.
func nested(v any) any {
	s, ok := v.(string)
	if !ok || len(s) < 2 || (s[0] != '{' && s[0] != '[') || !json.Valid([]byte(s)) {
		return v
	}
	return json.RawMessage(s)
}

// newMatcher compiles a sampler's filters over a dataset's columns. Values compare as text,
// the way Data Designer binds them as query parameters.
func newMatcher(p *config.PersonParams, columns []string) (func(*frame.Frame, int) bool, error) {
	type cond struct {
		col    string
		values []string
		ageLo  int
		ageHi  int
		isAge  bool
	}
	var conds []cond
	add := func(col string, values []string) error {
		if !slices.Contains(columns, col) {
			return fmt.Errorf("cannot filter on %q: the dataset has no such field", col)
		}
		conds = append(conds, cond{col: col, values: values})
		return nil
	}
	sex, city := p.Sex, p.City
	for field, values := range p.SelectFieldValues {
		switch field {
		case "sex":
			if len(values) > 0 {
				sex = ""
				if err := add("sex", values); err != nil {
					return nil, err
				}
			}
		case "city":
			city = values
		case "age": // Data Designer replaces it with age_range
		case "state":
			col := "state"
			if p.Locale == "en_US" {
				col = "region" // the dataset's name for the state
			}
			if err := add(col, values); err != nil {
				return nil, err
			}
		default:
			if err := add(field, values); err != nil {
				return nil, err
			}
		}
	}
	if sex != "" {
		if err := add("sex", []string{sex}); err != nil {
			return nil, err
		}
	}
	if len(city) > 0 {
		if err := add("city", city); err != nil {
			return nil, err
		}
	}
	conds = append(conds, cond{col: "age", isAge: true, ageLo: p.AgeRange[0], ageHi: p.AgeRange[1]})
	return func(f *frame.Frame, i int) bool {
		for _, c := range conds {
			col := f.Column(c.col)
			if col == nil || col.IsNull(i) {
				return false
			}
			if c.isAge {
				age, ok := col.Value(i).(int64)
				if !ok || age < int64(c.ageLo) || age > int64(c.ageHi) {
					return false
				}
				continue
			}
			if !slices.Contains(c.values, config.CategoryKey(col.Value(i))) {
				return false
			}
		}
		return true
	}, nil
}
