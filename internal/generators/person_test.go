package generators

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/persons"
	"github.com/rowforge/rowforge/pkg/config"
)

var asOf = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

func drawPersons(t *testing.T, yaml string, opts SamplerOptions, size int) ([]map[string]any, []string, error) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	require.NoError(t, err)
	opts.AsOf = asOf
	s, err := NewSamplers(cfg.SamplerColumns(), nil, opts)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Draw(1, 0, size)
	if err != nil {
		return nil, nil, err
	}
	var out []map[string]any
	var keys []string
	for i, text := range f.Column("who").Strings {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(text), &m))
		out = append(out, m)
		if i == 0 {
			dec := json.NewDecoder(strings.NewReader(text))
			_, _ = dec.Token()
			for dec.More() {
				k, _ := dec.Token()
				keys = append(keys, k.(string))
				var skip any
				require.NoError(t, dec.Decode(&skip))
			}
		}
	}
	return out, keys, nil
}

func TestFakerPerson(t *testing.T) {
	t.Parallel()
	const cfg = `columns: [{name: who, column_type: sampler, sampler_type: person_from_faker, params: {sex: Female, city: [Lyon, Porto], age_range: [10, 30]}}]`
	people, keys, err := drawPersons(t, cfg, SamplerOptions{}, 300)
	require.NoError(t, err)
	require.Equal(t, []string{"uuid", "locale", "first_name", "last_name", "middle_name", "sex", "street_number", "street_name", "city",
		"state", "postcode", "age", "birth_date", "country", "marital_status", "education_level", "unit", "occupation", "phone_number",
		"bachelors_field"}, keys, "Data Designer's fields, in its order")
	minors := 0
	for _, p := range people {
		require.Equal(t, "Female", p["sex"])
		require.Contains(t, []any{"Lyon", "Porto"}, p["city"])
		require.Equal(t, "en_US", p["locale"])
		require.Nil(t, p["middle_name"])
		require.NotEmpty(t, p["first_name"])
		age := int(p["age"].(float64))
		require.True(t, age >= 10 && age <= 30, "age %d", age)
		born, err := time.Parse(time.DateOnly, p["birth_date"].(string))
		require.NoError(t, err)
		require.False(t, born.After(asOf.AddDate(-age, 0, 0)), "born at most %d years before %s: %s", age, asOf, born)
		require.True(t, born.After(asOf.AddDate(-age-1, 0, -1)))
		if age < 18 {
			minors++
			require.Nil(t, p["phone_number"], "no phone for a minor")
		} else {
			require.NotEmpty(t, p["phone_number"])
		}
	}
	require.NotZero(t, minors)

	again, _, err := drawPersons(t, cfg, SamplerOptions{}, 300)
	require.NoError(t, err)
	require.Equal(t, people, again, "reproducible with the same seed")
}

// writePersonas writes a tiny managed dataset for en_US: 40 people, 20 in Austin (half
// Female), ages 20..59, a persona field, and the dataset's region.
func writePersonas(t *testing.T, assets string) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "uuid", Type: arrow.BinaryTypes.String},
		{Name: "first_name", Type: arrow.BinaryTypes.String},
		{Name: "middle_name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "last_name", Type: arrow.BinaryTypes.String},
		{Name: "sex", Type: arrow.BinaryTypes.String},
		{Name: "age", Type: arrow.PrimitiveTypes.Int64},
		{Name: "city", Type: arrow.BinaryTypes.String},
		{Name: "region", Type: arrow.BinaryTypes.String},
		{Name: "postcode", Type: arrow.BinaryTypes.String},
		{Name: "occupation", Type: arrow.BinaryTypes.String},
		{Name: "county", Type: arrow.BinaryTypes.String}, // not a person field: left out
		{Name: "persona", Type: arrow.BinaryTypes.String},
		{Name: "openness", Type: arrow.StructOf(arrow.Field{Name: "label", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "t_score", Type: arrow.PrimitiveTypes.Int64})},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range 40 {
		city, sex := "Boston", "Male"
		if i < 20 {
			city = "Austin"
		}
		if i%2 == 0 {
			sex = "Female"
		}
		vals := []string{fmt.Sprintf("id-%d", i), fmt.Sprintf("First%d", i), "", fmt.Sprintf("Last%d", i), sex}
		for j, v := range vals {
			if j == 2 {
				b.Field(j).AppendNull()
				continue
			}
			b.Field(j).(*array.StringBuilder).Append(v)
		}
		b.Field(5).(*array.Int64Builder).Append(int64(20 + i))
		for j, v := range []string{city, "TX", "78701", "teacher", "Travis", fmt.Sprintf("Persona %d", i)} {
			b.Field(6 + j).(*array.StringBuilder).Append(v)
		}
		sb := b.Field(12).(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append("high")
		sb.FieldBuilder(1).(*array.Int64Builder).Append(int64(50 + i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	dir := filepath.Join(assets, "datasets")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	fh, err := os.Create(filepath.Join(dir, "en_US.parquet"))
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(schema, fh, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(16)), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
}

func TestManagedPerson(t *testing.T) {
	t.Parallel()
	assets := t.TempDir()
	writePersonas(t, assets)
	src := persons.NewSource(assets)
	people, keys, err := drawPersons(t, `columns: [{name: who, column_type: sampler, sampler_type: person,
  params: {sex: Female, city: Austin, age_range: [20, 35], with_synthetic_personas: true, select_field_values: {occupation: [teacher]}}}]`,
		SamplerOptions{Persons: src}, 8)
	require.NoError(t, err)
	require.Equal(t, []string{"uuid", "first_name", "middle_name", "last_name", "sex", "age", "city", "postcode", "occupation",
		"locale", "birth_date", "phone_number", "email_address", "national_id", "state", "persona", "openness"}, keys)
	seen := map[string]bool{}
	for _, p := range people {
		require.Equal(t, "Female", p["sex"])
		require.Equal(t, "Austin", p["city"])
		age := p["age"].(float64)
		require.True(t, age >= 20 && age <= 35)
		require.Equal(t, "TX", p["state"], "en_US: the dataset's region is the state")
		require.Regexp(t, `^\d{3}-\d{2}-\d{4}$`, p["national_id"])
		require.Regexp(t, `^\d{3}-\d{3}-\d{4}$`, p["phone_number"])
		require.Regexp(t, `^[a-z0-9._]+@[a-z.]+$`, p["email_address"])
		require.Contains(t, p["persona"], "Persona")
		require.Equal(t, "high", p["openness"].(map[string]any)["label"], "a struct field stays an object")
		require.False(t, seen[p["uuid"].(string)], "no person twice in a draw")
		seen[p["uuid"].(string)] = true
	}
	require.Len(t, seen, 8, "all 8 matching people")

	_, _, err = drawPersons(t, `columns: [{name: who, column_type: sampler, sampler_type: person, params: {sex: Female, city: Austin, age_range: [20, 35]}}]`,
		SamplerOptions{Persons: src}, 9)
	require.ErrorContains(t, err, "only 8 samples could be generated")

	_, _, err = drawPersons(t, `columns: [{name: who, column_type: sampler, sampler_type: person, params: {locale: ja_JP}}]`,
		SamplerOptions{Persons: src}, 1)
	require.ErrorContains(t, err, `column "who"`)
	require.ErrorContains(t, err, "datasets/ja_JP.parquet")
	require.ErrorContains(t, err, "data-designer download personas --locale ja_JP")
}

// TestPersonDottedAccess: templates read a person's fields.
func TestPersonDottedAccess(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`columns:
  - {name: customer, column_type: sampler, sampler_type: person_from_faker, params: {age_range: [30, 31]}}
  - {name: greeting, column_type: expression, expr: "Dear {{ customer.first_name }} {{ customer.last_name }} ({{ customer.age }})"}`))
	require.NoError(t, err)
	s, err := NewSamplers(cfg.SamplerColumns(), nil, SamplerOptions{})
	require.NoError(t, err)
	f, err := s.Draw(2, 0, 5)
	require.NoError(t, err)
	g, err := Expression(cfg.Column("greeting"))
	require.NoError(t, err)
	col, rowErrs, err := g.Column(t.Context(), f, []int{0, 1, 2, 3, 4})
	require.NoError(t, err)
	require.Empty(t, rowErrs)
	for i, text := range col.Strings {
		var p map[string]any
		require.NoError(t, json.Unmarshal([]byte(f.Column("customer").Strings[i]), &p))
		require.Equal(t, fmt.Sprintf("Dear %s %s (%v)", p["first_name"], p["last_name"], p["age"]), text)
	}
}
