package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// validConfig uses every sampler type and both column types, with the checks Parse makes
// spelled out in TestParseValid.
const validConfig = `
columns:
  - name: id
    column_type: sampler
    sampler_type: uuid
  - name: code
    column_type: sampler
    sampler_type: uuid
    params: {prefix: "c-", short_form: true, uppercase: true}
  - name: summary            # reads columns defined below it
    column_type: expression
    expr: "{{ team }} ({{ dept | upper }}) since {{ joined }}"
  - name: dept
    column_type: sampler
    sampler_type: category
    params: {values: [eng, sales], weights: [3, 1]}
  - name: team
    column_type: sampler
    sampler_type: subcategory
    params:
      category: dept
      values: {eng: [backend, frontend], sales: [emea]}
  - name: level
    column_type: sampler
    params: {sampler_type: category, values: [1, 2, 3]}
  - name: score
    column_type: sampler
    sampler_type: category
    params: {values: [1, 2.5]}
  - name: level_note
    column_type: sampler
    sampler_type: subcategory
    params: {category: level, values: {1: [a], 2: [b], 3: [7]}}
  - name: age
    column_type: sampler
    sampler_type: uniform
    params: {low: 18, high: 65, decimal_places: 0}
    convert_to: int
  - name: height
    column_type: sampler
    sampler_type: gaussian
    params: {mean: 170, stddev: 10, decimal_places: null}
  - name: active
    column_type: sampler
    sampler_type: bernoulli
    params: {p: 0.3}
  - name: tries
    column_type: sampler
    sampler_type: binomial
    params: {n: 10, p: 0.5}
    convert_to: str
  - name: visits
    column_type: sampler
    sampler_type: poisson
    params: {mean: 4}
  - name: joined
    column_type: sampler
    sampler_type: datetime
    params: {start: "2024-01-01", end: 2024-06-30 12:00:00, unit: h}
    convert_to: "%Y-%m-%d"
  - name: left
    column_type: sampler
    sampler_type: timedelta
    params: {dt_min: 1, dt_max: 30, reference_column_name: joined}
  - name: senior
    column_type: expression
    expr: "{{ age > 40 and active }}"
    dtype: bool
    drop: true
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(validConfig))
	require.NoError(t, err)
	require.Len(t, cfg.Columns, 16)

	require.Equal(t, []string{
		"id", "code", "dept", "team", "level", "score", "level_note", "age", "height", "active",
		"tries", "visits", "joined", "summary", "left", "senior",
	}, cfg.Order)

	col := func(name string) *Column {
		c := cfg.Column(name)
		require.NotNil(t, c, name)
		return c
	}
	outputs := map[string]frame.Type{
		"id": frame.String, "code": frame.String, "summary": frame.String, "dept": frame.String,
		"team": frame.String, "level": frame.Int, "score": frame.Float, "level_note": frame.String,
		"age": frame.Int, "height": frame.Float, "active": frame.Int, "tries": frame.String,
		"visits": frame.Int, "joined": frame.String, "left": frame.String, "senior": frame.Bool,
	}
	for name, want := range outputs {
		require.Equal(t, want, col(name).Output, name)
	}

	require.Equal(t, &UUIDParams{}, col("id").Params)
	require.Equal(t, &UUIDParams{Prefix: "c-", ShortForm: true, Uppercase: true}, col("code").Params)

	dept := col("dept").Params.(*CategoryParams)
	require.Equal(t, []any{"eng", "sales"}, dept.Values)
	require.InDeltaSlice(t, []float64{0.75, 0.25}, dept.Weights, 1e-12)

	level := col("level")
	require.Equal(t, SamplerCategory, level.SamplerType, "sampler_type inside params")
	require.Equal(t, []any{int64(1), int64(2), int64(3)}, level.Params.(*CategoryParams).Values)
	require.Nil(t, level.Params.(*CategoryParams).Weights)
	require.Equal(t, []any{int64(1), 2.5}, col("score").Params.(*CategoryParams).Values)

	require.Equal(t, &SubcategoryParams{Category: "dept", Values: map[string][]any{
		"eng": {"backend", "frontend"}, "sales": {"emea"},
	}}, col("team").Params)
	require.Equal(t, map[string][]any{"1": {"a"}, "2": {"b"}, "3": {int64(7)}},
		col("level_note").Params.(*SubcategoryParams).Values)

	require.Equal(t, &UniformParams{Low: 18, High: 65, DecimalPlaces: new(0)}, col("age").Params)
	require.Equal(t, "int", col("age").ConvertTo)
	require.Equal(t, &GaussianParams{Mean: 170, Stddev: 10}, col("height").Params)
	require.Equal(t, &BernoulliParams{P: 0.3}, col("active").Params)
	require.Equal(t, &BinomialParams{N: 10, P: 0.5}, col("tries").Params)
	require.Equal(t, &PoissonParams{Mean: 4}, col("visits").Params)
	require.Equal(t, &DatetimeParams{
		Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		End:   time.Date(2024, 6, 30, 12, 0, 0, 0, time.UTC),
		Unit:  "h",
	}, col("joined").Params)
	require.Equal(t, "%Y-%m-%d", col("joined").ConvertTo)
	require.Equal(t, &TimedeltaParams{DtMin: 1, DtMax: 30, ReferenceColumnName: "joined", Unit: "D"}, col("left").Params)

	require.Equal(t, []string{"dept", "joined", "team"}, col("summary").Inputs)
	require.Equal(t, []string{"active", "age"}, col("senior").Inputs)
	require.Equal(t, []string{"dept"}, col("team").Inputs)
	require.Equal(t, []string{"level"}, col("level_note").Inputs)
	require.Equal(t, []string{"joined"}, col("left").Inputs)
	require.Empty(t, col("age").Inputs)
	require.Equal(t, frame.Bool, col("senior").DType)
	require.Equal(t, frame.String, col("summary").DType)
	require.Equal(t, TypeExpression, col("summary").Type)

	names := func(cols []*Column) []string {
		var out []string
		for _, c := range cols {
			out = append(out, c.Name)
		}
		return out
	}
	require.Equal(t, []string{
		"id", "code", "dept", "team", "level", "score", "level_note", "age", "height", "active",
		"tries", "visits", "joined", "left",
	}, names(cfg.SeedColumns()))
	require.Equal(t, []string{"summary", "senior"}, names(cfg.GeneratedColumns()))
	require.Equal(t, []string{"senior"}, cfg.DroppedColumns())
}

func TestOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		columns string
		want    []string
	}{
		{"config order when possible", `
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: b, column_type: expression, expr: "{{ a }}"}
  - {name: c, column_type: expression, expr: "{{ b }}"}`, []string{"a", "b", "c"}},
		{"readers move after their inputs", `
  - {name: x, column_type: expression, expr: "{{ z }}"}
  - {name: y, column_type: sampler, sampler_type: uuid}
  - {name: z, column_type: sampler, sampler_type: uuid}`, []string{"y", "z", "x"}},
		{"earliest ready column first", `
  - {name: c, column_type: expression, expr: "{{ b }}"}
  - {name: b, column_type: expression, expr: "{{ a }}"}
  - {name: d, column_type: sampler, sampler_type: uuid}
  - {name: a, column_type: sampler, sampler_type: uuid}`, []string{"d", "a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte("columns:" + tt.columns))
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.Order)
		})
	}
}

// errorsOf flattens the *Errors of a joined (or wrapped) error.
func errorsOf(err error) []*Error {
	var out []*Error
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e) && !isJoin(err):
		out = append(out, e)
	default:
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				out = append(out, errorsOf(inner)...)
			}
		} else if inner := errors.Unwrap(err); inner != nil {
			out = append(out, errorsOf(inner)...)
		}
	}
	return out
}

func isJoin(err error) bool {
	for err != nil {
		if _, ok := err.(interface{ Unwrap() []error }); ok {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const (
		uuidA = "\n  - {name: a, column_type: sampler, sampler_type: uuid}"
		catA  = "\n  - {name: a, column_type: sampler, sampler_type: category, params: {values: [x, y]}}"
		uniA  = "\n  - {name: a, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}"
		dateA = "\n  - {name: a, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-02-01}}"
	)
	col := func(s string) string { return "\n  - " + s }
	tests := []struct {
		name   string
		yaml   string
		column string
		field  string
		msg    string
	}{
		// Document shape.
		{"yaml syntax", "columns: [\n  {name: a", "", "", "invalid YAML: line"},
		{"yaml duplicate key", "columns: []\ncolumns: []", "", "", `invalid YAML: line 2: mapping key "columns" already defined`},
		{"several documents", "columns: []\n---\ncolumns: []", "", "", "single YAML document"},
		{"empty document", "", "", "", "no columns: the config must list at least one column"},
		{"not a mapping", "- a\n- b", "", "", "must be a mapping"},
		{"no columns key", "processors: []", "", "columns", "no columns: the config must list at least one column"},
		{"empty columns", "columns: []", "", "columns", "no columns"},
		{"columns not a list", "columns: {a: 1}", "", "columns", "want a list of columns"},
		{"unknown top-level key", "columns:" + uuidA + "\ncolums: []", "", "colums", `unknown top-level key "colums" (did you mean "columns"?)`},
		{"tool config without providers", "columns:" + uuidA + "\ntool_configs: [{tool_alias: t}]", "", "tool_configs[t].providers", "required"},
		{"tool config unknown provider", "columns:" + uuidA + "\ntool_configs: [{tool_alias: t, providers: [serch]}]\nmcp_providers: [{name: search, endpoint: \"http://x/sse\"}]", "", "tool_configs[t].providers", `unknown MCP provider "serch" (did you mean "search"?)`},
		{"tool config turns", "columns:" + uuidA + "\ntool_configs: [{tool_alias: t, providers: [s], max_tool_call_turns: 0}]\nmcp_providers: [{name: s, provider_type: stdio, command: srv}]", "", "tool_configs[t].max_tool_call_turns", "at least 1"},
		{"tool config duplicate allow", "columns:" + uuidA + "\ntool_configs: [{tool_alias: t, providers: [s], allow_tools: [a, a]}]\nmcp_providers: [{name: s, provider_type: stdio, command: srv}]", "", "tool_configs[t].allow_tools", `"a" is listed twice`},
		{"mcp provider type", "columns:" + uuidA + "\nmcp_providers: [{name: s, provider_type: grpc}]", "", "mcp_providers[s].provider_type", `unknown provider_type "grpc"`},
		{"mcp provider endpoint", "columns:" + uuidA + "\nmcp_providers: [{name: s, provider_type: streamable_http}]", "", "mcp_providers[s].endpoint", "required"},
		{"mcp stdio command", "columns:" + uuidA + "\nmcp_providers: [{name: s, provider_type: stdio, endpoint: \"http://x\"}]", "", "mcp_providers[s].command", "required"},
		{"seed_config source not a mapping", "columns:" + uuidA + "\nseed_config: {source: x}", "", "seed_config.source", "want a mapping with a seed_type"},
		{"profiler sample size", "columns:" + uuidA + "\nprofilers: [{model_alias: m, summary_score_sample_size: 0}]", "", "profilers[0].summary_score_sample_size", "must be at least 1"},
		{"profiler unknown key", "columns:" + uuidA + "\nprofilers: [{model_alias: m, sample: 3}]", "", "profilers[0].sample", `unknown key "sample"`},
		{"non-finite number", "columns:" + col("{name: a, column_type: sampler, sampler_type: uniform, params: {low: 0, high: .inf}}"), "a", "params.high", "+Inf has no JSON form"},
		{"non-finite number full form", `{"data_designer": {"columns": [{"name": "a", "column_type": "sampler", "sampler_type": "uniform", "params": {"low": 0, "high": .nan}}]}}`, "a", "params.high", "NaN has no JSON form"},
		{"non-finite number no name", "columns:" + col("{column_type: sampler, sampler_type: uniform, params: {low: -.inf, high: 0}}"), "", "columns[0].params.low", "-Inf has no JSON form"},
		{"full form extra key", "data_designer: {columns: [{name: a, column_type: sampler, sampler_type: uuid}]}\nname: x", "", "name", `unknown top-level key "name"`},
		{"full form not a mapping", "data_designer: [1]", "", "data_designer", "want a mapping"},
		{"full form library_version", "data_designer: {columns: [{name: a, column_type: sampler, sampler_type: uuid}]}\nlibrary_version: 1", "", "library_version", "want a string"},

		// Common column fields.
		{"column not a mapping", "columns:\n  - a", "", "columns[0]", "want a column mapping"},
		{"missing name", "columns:" + col("{column_type: sampler, sampler_type: uuid}"), "", "columns[0].name", "required"},
		{"empty name", "columns:" + col(`{name: " ", column_type: sampler, sampler_type: uuid}`), "", "columns[0].name", "must not be empty"},
		{"name not a string", "columns:" + col(`{name: [a], column_type: sampler, sampler_type: uuid}`), "", "columns[0].name", "want a string"},
		{"missing column_type", "columns:" + col("{name: a}"), "a", "column_type", "required"},
		{"later column_type", "columns:" + col("{name: a, column_type: image, prompt: b, model_alias: m}"), "a", "column_type", `column_type "image" is not supported yet`},
		{"unknown column_type", "columns:" + col("{name: a, column_type: samplr}"), "a", "column_type", `unknown column_type "samplr"`},
		{"unknown column_type far", "columns:" + col("{name: a, column_type: zzz}"), "a", "column_type", `unknown column_type "zzz" (want one of sampler, expression, validation, embedding, llm-text, llm-code, llm-structured, llm-judge)`},
		{"unknown column key", "columns:" + col("{name: a, column_type: sampler, sampler_type: uuid, prams: {}}"), "a", "prams", `unknown key "prams" (did you mean "params"?)`},
		{"drop not a bool", "columns:" + col("{name: a, column_type: sampler, sampler_type: uuid, drop: yes}"), "a", "drop", "want true or false"},
		{"constraint unknown target", "columns:" + uuidA + "\nconstraints: [{target_column: aa, operator: lt, rhs: 1}]", "", "constraints[0].target_column", `unknown column "aa" (did you mean "a"?)`},
		{"constraint on expression", "columns:" + col(`{name: a, column_type: expression, expr: "1", dtype: int}`) + "\nconstraints: [{target_column: a, operator: lt, rhs: 1}]", "", "constraints[0].target_column", "constraints apply to sampler columns"},
		{"constraint operator", "columns:" + uniA + "\nconstraints: [{target_column: a, operator: ne, rhs: 1}]", "", "constraints[0].operator", `unknown operator "ne"`},
		{"constraint no rhs", "columns:" + uniA + "\nconstraints: [{target_column: a, operator: lt}]", "", "constraints[0].rhs", "required"},
		{"constraint type", "columns:" + uniA + "\nconstraints: [{constraint_type: equality, target_column: a, operator: lt, rhs: 1}]", "", "constraints[0].constraint_type", `unknown constraint_type "equality"`},
		{"constraint scalar rhs text", "columns:" + uniA + "\nconstraints: [{constraint_type: scalar_inequality, target_column: a, operator: lt, rhs: ten}]", "", "constraints[0].rhs", "want a number"},
		{"constraint legacy column rhs unknown", "columns:" + uniA + "\nconstraints: [{target_column: a, operator: lt, rhs: b}]", "", "constraints[0].rhs", `unknown column "b"`},
		{"constraint scalar on datetime", "columns:" + dateA + "\nconstraints: [{target_column: a, operator: lt, rhs: 1}]", "", "constraints[0]", "needs a numeric column"},
		{"constraint scalar on text", "columns:" + catA + "\nconstraints: [{target_column: a, operator: lt, rhs: 1}]", "", "constraints[0]", `"a" holds text values`},
		{"constraint datetime vs number", "columns:" + dateA + col("{name: b, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}") + "\nconstraints: [{target_column: b, operator: lt, rhs: a}]", "", "constraints[0]", `cannot compare numeric column "b" with datetime column "a"`},
		{"constraint self", "columns:" + uniA + "\nconstraints: [{target_column: a, operator: lt, rhs: a}]", "", "constraints[0].rhs", "is the target_column"},
		{"constraint unknown key", "columns:" + uniA + "\nconstraints: [{target_column: a, operator: lt, rhs: 1, strict: true}]", "", "constraints[0].strict", `unknown key "strict"`},
		{"constraint cycle", "columns:" + uniA + col("{name: b, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}") + "\nconstraints: [{target_column: a, operator: lt, rhs: b}, {target_column: b, operator: lt, rhs: a}]", "a", "", "dependency cycle: a -> b -> a"},
		{"scipy unknown dist", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: gama, dist_params: {a: 1}}}"), "a", "params.dist_name", `unknown dist_name "gama" (did you mean "gamma"?)`},
		{"scipy unsupported dist", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: weibull_min, dist_params: {c: 1}}}"), "a", "params.dist_name", `dist_name "weibull_min" is not one rowforge draws (want one of beta, binom, chi2`},
		{"scipy missing param", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: gamma, dist_params: {scale: 2}}}"), "a", "params.dist_params.a", "required for dist_name gamma"},
		{"scipy unknown param", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: norm, dist_params: {mean: 2}}}"), "a", "params.dist_params.mean", `unknown parameter "mean" of norm (want loc, scale)`},
		{"scipy scale", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: expon, dist_params: {scale: 0}}}"), "a", "params.dist_params.scale", "must be greater than 0, got 0.0"},
		{"scipy discrete has no scale", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: poisson, dist_params: {mu: 1, scale: 2}}}"), "a", "params.dist_params.scale", `unknown parameter "scale" of poisson`},
		{"scipy integer", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: binom, dist_params: {n: 2.5, p: 0.5}}}"), "a", "params.dist_params.n", "want an integer, got 2.5"},
		{"scipy randint bounds", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: randint, dist_params: {low: 5, high: 5}}}"), "a", "params.dist_params.high", "must be greater than low"},
		{"scipy geom p", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: geom, dist_params: {p: 0}}}"), "a", "params.dist_params.p", "greater than 0 and at most 1"},
		{"scipy params not numbers", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: norm, dist_params: {loc: x}}}"), "a", "params.dist_params.loc", "want a number"},
		{"scipy missing dist_params", "columns:" + col("{name: a, column_type: sampler, sampler_type: scipy, params: {dist_name: norm}}"), "a", "params.dist_params", "required"},
		{"bernoulli_mixture p", "columns:" + col("{name: a, column_type: sampler, sampler_type: bernoulli_mixture, params: {p: 2, dist_name: norm, dist_params: {}}}"), "a", "params.p", "between 0 and 1"},
		{"bernoulli_mixture dist", "columns:" + col("{name: a, column_type: sampler, sampler_type: bernoulli_mixture, params: {p: 0.5, dist_name: nrom, dist_params: {}}}"), "a", "params.dist_name", `did you mean "norm"?`},
		{"skip unknown column", "columns:" + col(`{name: a, column_type: expression, expr: "1", skip: {when: "{{ b }}"}}`), "a", "skip.when", `unknown reference "b"`},
		{"skip without delimiters", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {when: "a == 1"}}`), "e", "skip.when", "does not reference any column; write the condition with Jinja delimiters"},
		{"skip of no column", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {when: "{{ 1 == 1 }}"}}`), "e", "skip.when", "does not reference any column"},
		{"skip itself", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {when: "{{ e == 1 }}"}}`), "e", "skip.when", "cannot gate its own generation"},
		{"skip on a sampler", "columns:" + uuidA + col(`{name: s, column_type: sampler, sampler_type: uuid, skip: {when: "{{ a }}"}}`), "s", "skip", "skip is not supported on sampler columns"},
		{"skip value not castable", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", dtype: int, skip: {when: "{{ a }}", value: abc}}`), "e", "skip.value", "'abc' cannot be converted to int (the column's dtype): invalid literal for int() with base 10: 'abc'"},
		{"skip value list", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {when: "{{ a }}", value: [1]}}`), "e", "skip.value", "want a bool, a number, a string or null"},
		{"skip when missing", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {value: 1}}`), "e", "skip.when", "required"},
		{"skip unknown key", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", skip: {when: "{{ a }}", if: 1}}`), "e", "skip.if", `unknown key "if"`},
		{"propagate_skip not a bool", "columns:" + uuidA + col(`{name: e, column_type: expression, expr: "{{ a }}", propagate_skip: "no"}`), "e", "propagate_skip", "want true or false"},
		{"faker locale unknown", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {locale: xx_XX}}"), "a", "params.locale", `locale "xx_XX" is not a supported locale`},
		{"faker locale not served", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {locale: fr_FR}}"), "a", "params.locale", `locale "fr_FR" is not served by rowforge's person_from_faker`},
		{"faker age range order", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {age_range: [40, 40]}}"), "a", "params.age_range", "must be less than the second integer (max age), but the first integer provided was 40 and the second integer provided was 40"},
		{"faker age range max", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {age_range: [1, 200]}}"), "a", "params.age_range", "less than or equal to 114"},
		{"faker age range shape", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {age_range: [1]}}"), "a", "params.age_range", "must be a list of two integers"},
		{"faker sex", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {sex: other}}"), "a", "params.sex", "want Male, Female or null"},
		{"faker no personas", "columns:" + col("{name: a, column_type: sampler, sampler_type: person_from_faker, params: {with_synthetic_personas: true}}"), "a", "params.with_synthetic_personas", `unknown param "with_synthetic_personas"`},
		{"person locale", "columns:" + col("{name: a, column_type: sampler, sampler_type: person, params: {locale: de_DE}}"), "a", "params.locale", "only supported for the following locales: en_US, en_IN"},
		{"person field", "columns:" + col("{name: a, column_type: sampler, sampler_type: person, params: {select_field_values: {favourite_colour: [red]}}}"), "a", "params.select_field_values.favourite_colour", "invalid field name"},
		{"person field values", "columns:" + col("{name: a, column_type: sampler, sampler_type: person, params: {select_field_values: {city: x}}}"), "a", "params.select_field_values.city", "want a list of values"},
		{"subcategory extra value", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {x: [1], y: [2], z: [3]}}}"), "b", "params.values.z", `"z" is not a value of category column "a"`},
		{"conditional draws another type", "columns:" + uuidA + col(`{name: b, column_type: sampler, sampler_type: scipy, params: {dist_name: norm, dist_params: {}}, conditional_params: {"a == 'x'": {dist_name: poisson, dist_params: {mu: 1}}}}`), "b", "conditional_params[a == 'x']", "draws int values where the column's params draw float"},
		{"validation targets", "columns:" + uuidA + col(`{name: v, column_type: validation, validator_type: code, validator_params: {code_lang: python}}`), "v", "target_columns", "required"},
		{"validation unknown target", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [b], validator_type: code, validator_params: {code_lang: python}}`), "v", "target_columns", `unknown reference "b"`},
		{"validator_type", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: lint, validator_params: {}}`), "v", "validator_type", `unknown validator_type "lint"`},
		{"validator code_lang", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: code, validator_params: {code_lang: go}}`), "v", "validator_params.code_lang", `unknown code_lang "go"`},
		{"validator function", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: local_callable, validator_params: {validation_function: check}}`), "v", "validator_params.validation_function", "rowforge runs a program instead"},
		{"validator command", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: local_callable, validator_params: {command: ./check}}`), "v", "validator_params.command", "want a list of strings"},
		{"remote url", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: remote, validator_params: {endpoint_url: ftp://x}}`), "v", "validator_params.endpoint_url", "want an http or https URL"},
		{"remote backoff", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: remote, validator_params: {endpoint_url: http://x, retry_backoff: 1}}`), "v", "validator_params.retry_backoff", "greater than 1"},
		{"remote parallel", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: remote, validator_params: {endpoint_url: http://x, max_parallel_requests: 0}}`), "v", "validator_params.max_parallel_requests", "at least 1"},
		{"remote schema", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: remote, validator_params: {endpoint_url: http://x, output_schema: {type: 3}}}`), "v", "validator_params.output_schema", "not a valid JSON schema"},
		{"validation batch_size", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], batch_size: 0, validator_type: code, validator_params: {code_lang: python}}`), "v", "batch_size", "at least 1"},
		{"validator unknown param", "columns:" + uuidA + col(`{name: v, column_type: validation, target_columns: [a], validator_type: code, validator_params: {code_lang: python, strict: true}}`), "v", "validator_params.strict", `unknown param "strict"`},
		{"conditional_params unknown column", "columns:" + col(`{name: a, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {"b == 1": {p: 1}}}`), "a", "conditional_params[b == 1]", `unknown reference "b"`},
		{"conditional_params bad params", "columns:" + uuidA + col(`{name: b, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {"a == 1": {p: 2}}}`), "b", "conditional_params[a == 1].p", "between 0 and 1"},
		{"conditional_params other sampler_type", "columns:" + uuidA + col(`{name: b, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {"a == 1": {sampler_type: uniform, low: 0, high: 1}}}`), "b", "conditional_params[a == 1].sampler_type", `differs from the column's "bernoulli"`},
		{"conditional_params bad condition", "columns:" + uuidA + col(`{name: b, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {"a ==": {p: 1}}}`), "b", "conditional_params[a ==]", "invalid condition"},
		{"conditional_params reads expression", "columns:" + col(`{name: a, column_type: expression, expr: "x"}`) + col(`{name: b, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {"a == 'x'": {p: 1}}}`), "b", "conditional_params[a == 'x']", "a sampler can only read sampler columns"},

		// Sampler type and params.
		{"missing sampler_type", "columns:" + col("{name: a, column_type: sampler, params: {values: [x]}}"), "a", "sampler_type", "required"},
		{"unknown sampler_type", "columns:" + col("{name: a, column_type: sampler, sampler_type: gausian, params: {}}"), "a", "sampler_type", `unknown sampler_type "gausian" (did you mean "gaussian"?)`},
		{"params sampler_type wins", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {sampler_type: uniform, values: [x]}}"), "a", "params.values", `unknown param "values"`},
		{"missing params", "columns:" + col("{name: a, column_type: sampler, sampler_type: category}"), "a", "params", "required"},
		{"params not a mapping", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: [x]}"), "a", "params", "want a mapping"},
		{"unknown param", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [x], wieghts: [1]}}"), "a", "params.wieghts", `unknown param "wieghts" (did you mean "weights"?)`},
		{"category values missing", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {}}"), "a", "params.values", "required"},
		{"category values empty", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: []}}"), "a", "params.values", "at least one value"},
		{"category value bool", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [x, true]}}"), "a", "params.values[1]", "want a string or a number, got bool true"},
		{"category weights length", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [x, y], weights: [1]}}"), "a", "params.weights", "1 weights for 2 values"},
		{"category weights zero sum", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [x, y], weights: [0, 0]}}"), "a", "params.weights", "positive, finite sum"},
		{"category weight negative", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [x, y], weights: [2, -1]}}"), "a", "params.weights[1]", "must not be negative"},
		{"category weight not a number", "columns:" + col(`{name: a, column_type: sampler, sampler_type: category, params: {values: [x], weights: ["1"]}}`), "a", "params.weights[0]", "want a number"},
		{"uniform low high", "columns:" + col("{name: a, column_type: sampler, sampler_type: uniform, params: {low: 5, high: 5}}"), "a", "params.high", "must be greater than low"},
		{"uniform missing high", "columns:" + col("{name: a, column_type: sampler, sampler_type: uniform, params: {low: 5}}"), "a", "params.high", "required"},
		{"uniform low not a number", "columns:" + col(`{name: a, column_type: sampler, sampler_type: uniform, params: {low: "5", high: 6}}`), "a", "params.low", `want a number, got string "5"`},
		{"uniform decimal_places", "columns:" + col("{name: a, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1, decimal_places: -1}}"), "a", "params.decimal_places", "at least 0"},
		{"gaussian stddev", "columns:" + col("{name: a, column_type: sampler, sampler_type: gaussian, params: {mean: 0, stddev: 0}}"), "a", "params.stddev", "greater than 0"},
		{"bernoulli p", "columns:" + col("{name: a, column_type: sampler, sampler_type: bernoulli, params: {p: 1.5}}"), "a", "params.p", "between 0 and 1"},
		{"binomial n negative", "columns:" + col("{name: a, column_type: sampler, sampler_type: binomial, params: {n: -1, p: 0.5}}"), "a", "params.n", "at least 0"},
		{"binomial n fractional", "columns:" + col("{name: a, column_type: sampler, sampler_type: binomial, params: {n: 2.5, p: 0.5}}"), "a", "params.n", "want an integer"},
		{"binomial p", "columns:" + col("{name: a, column_type: sampler, sampler_type: binomial, params: {n: 3, p: -0.1}}"), "a", "params.p", "between 0 and 1"},
		{"poisson mean", "columns:" + col("{name: a, column_type: sampler, sampler_type: poisson, params: {mean: 0}}"), "a", "params.mean", "greater than 0"},
		{"datetime bad start", "columns:" + col("{name: a, column_type: sampler, sampler_type: datetime, params: {start: yesterday, end: 2024-01-01}}"), "a", "params.start", `"yesterday" is not a date or time`},
		{"datetime start not a string", "columns:" + col("{name: a, column_type: sampler, sampler_type: datetime, params: {start: 2020, end: 2024-01-01}}"), "a", "params.start", "want a string"},
		{"datetime end before start", "columns:" + col("{name: a, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-01-01}}"), "a", "params.end", "must be after start"},
		{"datetime unit", "columns:" + col("{name: a, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-02-01, unit: w}}"), "a", "params.unit", `unknown unit "w" (want one of Y M D h m s)`},
		{"timedelta dt_min", "columns:" + dateA + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: -1, dt_max: 3, reference_column_name: a}}"), "b", "params.dt_min", "at least 0"},
		{"timedelta dt_max", "columns:" + dateA + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: 3, dt_max: 3, reference_column_name: a}}"), "b", "params.dt_max", "greater than dt_min"},
		{"timedelta missing reference", "columns:" + dateA + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: 0, dt_max: 3}}"), "b", "params.reference_column_name", "required"},
		{"timedelta unit", "columns:" + dateA + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: 0, dt_max: 3, reference_column_name: a, unit: Y}}"), "b", "params.unit", "want one of D h m s"},
		{"timedelta reads category", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: 0, dt_max: 3, reference_column_name: a}}"), "b", "params.reference_column_name", `"a" is a category sampler, want a datetime or timedelta sampler`},
		{"timedelta reads expression", "columns:" + col(`{name: a, column_type: expression, expr: "2024-01-01"}`) + col("{name: b, column_type: sampler, sampler_type: timedelta, params: {dt_min: 0, dt_max: 3, reference_column_name: a}}"), "b", "params.reference_column_name", `a sampler can only read sampler columns, and "a" is a expression column`},
		{"subcategory unknown parent", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: aa, values: {x: [1]}}}"), "b", "params.category", `unknown reference "aa": did you mean "a"?`},
		{"subcategory parent not category", "columns:" + uuidA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {x: [1]}}}"), "b", "params.category", "want a category sampler"},
		{"subcategory missing value", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {x: [1]}}}"), "b", "params.values", `no values for "y", a value of category column "a"`},
		{"subcategory numeric keys", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [1, 2.0]}}") + col(`{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {1: [x], "2": [y]}}}`), "b", "params.values", `no values for "2.0"`},
		{"subcategory empty list", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {x: [1], y: []}}}"), "b", "params.values.y", "at least one value"},
		{"subcategory values not a mapping", "columns:" + catA + col("{name: b, column_type: sampler, sampler_type: subcategory, params: {category: a, values: [x]}}"), "b", "params.values", "want a mapping"},
		{"convert_to numeric", "columns:" + col("{name: a, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}, convert_to: double}"), "a", "convert_to", `want int, float or str for a uniform sampler, got "double"`},
		{"convert_to strftime directive", "columns:" + col(`{name: a, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-02-01}, convert_to: "%Y-%Q"}`), "a", "convert_to", "unknown directive %Q"},
		{"convert_to strftime none", "columns:" + col("{name: a, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-02-01}, convert_to: int}"), "a", "convert_to", "want a strftime format"},
		{"convert_to category", "columns:" + col("{name: a, column_type: sampler, sampler_type: category, params: {values: [1]}, convert_to: str}"), "a", "convert_to", "convert_to is not supported for sampler_type category"},

		// Expressions.
		{"missing expr", "columns:" + col("{name: a, column_type: expression}"), "a", "expr", "required"},
		{"blank expr", "columns:" + col(`{name: a, column_type: expression, expr: "  "}`), "a", "expr", "must not be blank"},
		{"invalid jinja", "columns:" + col(`{name: a, column_type: expression, expr: "{{ b "}`), "a", "expr", "invalid Jinja template: '}}' expected"},
		{"unclosed block", "columns:" + col(`{name: a, column_type: expression, expr: "{% if b %}x"}`), "a", "expr", "invalid Jinja template"},
		{"include", "columns:" + col(`{name: a, column_type: expression, expr: "{% include 'x.j2' %}"}`), "a", "expr", "{% include %} is not supported"},
		{"bad dtype", "columns:" + col(`{name: a, column_type: expression, expr: "1", dtype: double}`), "a", "dtype", `unknown dtype "double"`},
		{"expression unknown key", "columns:" + col(`{name: a, column_type: expression, expr: "1", prompt: hi}`), "a", "prompt", `unknown key "prompt"`},

		// Across columns.
		{"duplicate name", "columns:" + uuidA + catA, "a", "name", `duplicate column name "a": columns[0] and columns[1] both use it`},
		{"unknown reference", "columns:" + col("{name: age, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}") + col(`{name: b, column_type: expression, expr: "{{ agee + 1 }}"}`), "b", "expr", `unknown reference "agee": did you mean "age"?`},
		{"unknown reference far", "columns:" + uuidA + col(`{name: b, column_type: expression, expr: "{{ zzz }}"}`), "b", "expr", `unknown reference "zzz"`},
		{"self reference", "columns:" + col(`{name: a, column_type: expression, expr: "{{ a }}"}`), "a", "expr", `column "a" reads itself`},
		{"cycle of two", "columns:" + col(`{name: a, column_type: expression, expr: "{{ b }}"}`) + col(`{name: b, column_type: expression, expr: "{{ a }}"}`), "a", "expr", "cycle: a -> b -> a"},
		{"cycle of three", "columns:" + uuidA + col(`{name: c, column_type: expression, expr: "{{ d ~ a }}"}`) + col(`{name: d, column_type: expression, expr: "{{ e }}"}`) + col(`{name: e, column_type: expression, expr: "{{ c }}"}`) + col(`{name: f, column_type: expression, expr: "{{ e }}"}`), "c", "expr", "cycle: c -> d -> e -> c"},
		{"cycle found from a reader", "columns:" + col(`{name: f, column_type: expression, expr: "{{ e }}"}`) + col(`{name: d, column_type: expression, expr: "{{ e }}"}`) + col(`{name: e, column_type: expression, expr: "{{ d }}"}`), "d", "expr", "cycle: d -> e -> d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tt.yaml))
			require.Error(t, err)
			require.NotContains(t, err.Error(), `unknown key "convert_to"`)
			require.Nil(t, cfg)
			var first *Error
			require.ErrorAs(t, err, &first)
			for _, e := range errorsOf(err) {
				if e.Column == tt.column && e.Field == tt.field && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			require.Failf(t, "no matching error", "want column %q field %q msg containing %q, got:\n%v", tt.column, tt.field, tt.msg, err)
		})
	}
}

func TestParseReportsEveryProblemOnce(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: a, column_type: image, prompt: b, model_alias: m}
  - {name: b, column_type: expression, expr: "{{ a }} {{ nope }}"}
  - {name: c, column_type: sampler, sampler_type: bernoulli, params: {p: 2}}
  - {name: d, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {x: [1]}}}
processors: [{processor_type: drop_columns, name: x, column_names: [a]}]
constraints: [{target_column: c, operator: lt, rhs: 1}]
`))
	require.Nil(t, cfg)
	got := errorsOf(err)
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Error())
	}
	// Neither b nor d reading a is reported: a exists, and what it is cannot be trusted until
	// its own error is fixed. One mistake, one error.
	require.ElementsMatch(t, []string{
		`column "a": column_type: column_type "image" is not supported yet`,
		`column "b": expr: unknown reference "nope"`,
		`column "c": params.p: must be between 0 and 1, got 2.0`,
	}, msgs)
}

func TestParseFullForm(t *testing.T) {
	t.Parallel()
	full := `{
  "data_designer": {
    "columns": [
      {"name": "a", "column_type": "sampler", "sampler_type": "category", "drop": false,
       "skip": null, "propagate_skip": true, "conditional_params": {}, "convert_to": null,
       "params": {"sampler_type": "category", "values": ["x", "y"], "weights": null}},
      {"name": "b", "column_type": "expression", "expr": "{{ a }}!", "dtype": "str"}
    ],
    "model_configs": [], "processors": null, "constraints": [], "seed_config": null,
    "tool_configs": [], "profilers": null
  },
  "library_version": "0.5.0"
}`
	cfg, err := Parse([]byte(full))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, cfg.Order)
	require.NotContains(t, cfg.Raw, "data_designer")
	require.NotContains(t, cfg.Raw, "library_version")
	require.Contains(t, cfg.Raw, "columns")

	short, err := Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: category, drop: false, skip: null, propagate_skip: true,
     conditional_params: {}, convert_to: null, params: {sampler_type: category, values: [x, y], weights: null}}
  - {name: b, column_type: expression, expr: "{{ a }}!", dtype: str}
model_configs: []
processors: null
constraints: []
seed_config: null
tool_configs: []
profilers: null
`))
	require.NoError(t, err)
	require.Equal(t, cfg.Hash(), short.Hash(), "the full form hashes as its shorthand")
}

func TestRaw(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - name: a
    column_type: sampler
    sampler_type: category
    params: {values: [1, 2.5, x, "true", "null", 3.0]}
  - name: b
    column_type: sampler
    sampler_type: subcategory
    params: {category: a, values: {1: [p], 2.5: [q], x: [r], true: [s], ~: [t], 3.0: [u]}}
  - name: c
    column_type: sampler
    sampler_type: datetime
    params: {start: 2024-01-01, end: 2024-01-02 10:30:00}
`))
	require.NoError(t, err)
	cols := cfg.Raw["columns"].([]any)
	a := cols[0].(map[string]any)["params"].(map[string]any)
	require.Equal(t, []any{int64(1), 2.5, "x", "true", "null", 3.0}, a["values"])
	b := cols[1].(map[string]any)["params"].(map[string]any)
	require.Equal(t, map[string]any{
		"1": []any{"p"}, "2.5": []any{"q"}, "x": []any{"r"}, "true": []any{"s"}, "null": []any{"t"}, "3.0": []any{"u"},
	}, b["values"])
	c := cols[2].(map[string]any)["params"].(map[string]any)
	require.Equal(t, "2024-01-01", c["start"])
	require.Equal(t, "2024-01-02T10:30:00", c["end"])
}

func TestHashAndJSON(t *testing.T) {
	t.Parallel()
	parse := func(s string) *Config {
		cfg, err := Parse([]byte(s))
		require.NoError(t, err)
		return cfg
	}
	a := parse(`
columns:
  - {name: a, column_type: sampler, sampler_type: uniform, params: {low: 1, high: 2}}
  - {name: b, column_type: expression, expr: "{{ a < 1.5 }}", dtype: bool}
`)
	reordered := parse(`
columns:
  - params: {high: 2, low: 1}
    sampler_type: uniform
    column_type: sampler
    name: a
  - {dtype: bool, expr: "{{ a < 1.5 }}", column_type: expression, name: b}
`)
	asJSON := parse(`{"columns": [
  {"name": "a", "column_type": "sampler", "sampler_type": "uniform", "params": {"high": 2, "low": 1}},
  {"name": "b", "column_type": "expression", "expr": "{{ a < 1.5 }}", "dtype": "bool"}]}`)
	changed := parse(`
columns:
  - {name: a, column_type: sampler, sampler_type: uniform, params: {low: 1, high: 3}}
  - {name: b, column_type: expression, expr: "{{ a < 1.5 }}", dtype: bool}
`)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, a.Hash())
	require.Equal(t, a.Hash(), reordered.Hash())
	require.Equal(t, a.Hash(), asJSON.Hash())
	require.NotEqual(t, a.Hash(), changed.Hash())

	out := a.JSON()
	require.Contains(t, string(out), `"{{ a < 1.5 }}"`, "templates are not HTML-escaped")
	require.Contains(t, string(out), "\n  \"data_designer\": {", "indented")
	var back map[string]any
	require.NoError(t, json.Unmarshal(out, &back))
	want, err := json.Marshal(map[string]any{"data_designer": a.Raw})
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(out))

	// builder_config.json loads back as the same config.
	again := parse(string(out))
	require.Equal(t, a.Hash(), again.Hash())
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(validConfig), 0o600))
	cfg, err := Load(good)
	require.NoError(t, err)
	require.Len(t, cfg.Columns, 16)

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, missing)

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("columns:\n  - {name: a, column_type: sampler}\n"), 0o600))
	_, err = Load(bad)
	require.ErrorContains(t, err, bad)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "a", e.Column)
	require.Equal(t, "sampler_type", e.Field)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cfg := &Config{Columns: []*Column{
		{Name: "b", Type: TypeExpression, Expr: "{{ a }}", Inputs: []string{"a"}},
		{Name: "a", Type: TypeSampler, SamplerType: SamplerUUID, Params: &UUIDParams{}},
	}}
	require.NoError(t, cfg.Validate())
	require.Equal(t, []string{"a", "b"}, cfg.Order)

	cfg.Columns[1].Params = &CategoryParams{}
	cfg.Columns = append(cfg.Columns, &Column{Name: "c", Type: "image"})
	err := cfg.Validate()
	var msgs []string
	for _, e := range errorsOf(err) {
		msgs = append(msgs, e.Error())
	}
	require.ElementsMatch(t, []string{
		`column "a": params: want params of sampler_type "uuid", got *config.CategoryParams`,
		`column "c": column_type: unknown column_type "image" (want one of sampler, expression, validation, embedding, llm-text, llm-code, llm-structured, llm-judge)`,
	}, msgs)
}

func TestTemplateRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{"plain text", []string{}},
		{"{{ a }}", []string{"a"}},
		{"{{ b }}{{ a }}{{ b }}", []string{"a", "b"}},
		{"{{ a.b }}", []string{"a"}},
		{"{{ a.b.c | default(d) }}", []string{"a", "d"}},
		{"{{ a | upper }}", []string{"a"}},
		{"{{ items | map(attribute='n') | join(sep) }}", []string{"items", "sep"}},
		{"{{ x if y else z }}", []string{"x", "y", "z"}},
		{"{% for i in items %}{{ i }}{% endfor %}", []string{"items"}},
		{"{% for k, v in d.items() %}{{ k }}={{ v }}{{ loop.index }}{% endfor %}", []string{"d"}},
		{"{% for i in xs %}{% endfor %}{{ i }}", []string{"i", "xs"}},
		{"{% for x in xs if x > lim %}{{ x }}{% else %}none{% endfor %}", []string{"lim", "xs"}},
		{"{{ a is defined }}", []string{"a"}},
		{"{{ a is not none and b is divisibleby(c) }}", []string{"a", "b", "c"}},
		{"{{ 'name' ~ \"other\" }}", []string{}},
		{"{{ a['k'] }}", []string{"a"}},
		{"{{ a[k] }}", []string{"a", "k"}},
		{"{{ dict(a=b) }}", []string{"b"}},
		{"{{ not x }}{{ y in z }}", []string{"x", "y", "z"}},
		{"{{ true }}{{ False }}{{ none }}{{ x == None }}", []string{"x"}},
		{"{{ range(n) | list }}{{ lipsum() }}", []string{"n"}},
		{"{{ index }}{{ isbn }}{{ order }}{{ note }}{{ andrew }}", []string{"andrew", "index", "isbn", "note", "order"}},
		{"{{ 1.5 + x1 }}{{ (a, b) }}{{ {'k': v} }}{{ [e, f] }}", []string{"a", "b", "e", "f", "v", "x1"}},
		{"{% set x = y + 1 %}{{ x }}", []string{"y"}},
		{"{% set x = x + 1 %}", []string{"x"}},
		{"{% set a = c %}{% set b %}{{ a }}{% endset %}{{ a ~ b }}", []string{"c"}},
		{"{% set ns = namespace(n=0) %}{% for i in xs %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", []string{"xs"}},
		{"{% for i in xs %}{% set t = i %}{% endfor %}{{ t }}", []string{"t", "xs"}},
		{"{% with a = b %}{{ a }}{{ c }}{% endwith %}{{ a }}", []string{"a", "b", "c"}},
		{"{% macro m(p, q=r) %}{{ p }}{{ q }}{{ s }}{{ caller }}{% endmacro %}{{ m(t) }}", []string{"r", "s", "t"}},
		{"{% if a %}{{ b }}{% elif c %}{% else %}{{ d }}{% endif %}", []string{"a", "b", "c", "d"}},
		{"{% filter upper %}{{ v }}{% endfilter %}", []string{"v"}},
		{"{# {{ hidden }} #}{% raw %}{{ raw }}{% endraw %}", []string{}},
		{"{{- a -}} {%- if b -%}{%- endif -%}", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			got, err := TemplateRefs(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	for _, bad := range []string{"{{ a", "{% if a %}", "{{ a }}{% endfor %}", "{% extends 'base.j2' %}", "{% import 'm.j2' as m %}", "{% from 'm.j2' import f %}"} {
		_, err := TemplateRefs(bad)
		require.Error(t, err, bad)
	}
}

func TestCategoryKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want string
	}{
		{"x", "x"}, {int64(4), "4"}, {int64(-4), "-4"}, {2.0, "2.0"}, {2.5, "2.5"}, {0.0, "0.0"},
		{1e6, "1000000.0"}, {1e16, "1e+16"}, {1.5e-7, "1.5e-07"}, {0.0001, "0.0001"}, {true, "true"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, CategoryKey(tt.v), "%#v", tt.v)
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	names := []string{"age", "name", "customer_id", "b"}
	require.Equal(t, "age", closest("agee", names))
	require.Equal(t, "name", closest("nmae", names))
	require.Equal(t, "name", closest("Name", names))
	require.Equal(t, "customer_id", closest("custmer_id", names))
	require.Empty(t, closest("a", names), "a one-letter name is no typo of another")
	require.Empty(t, closest("height", names))
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\n"))
	f.Add([]byte(`{"data_designer": {"columns": [{"name": "a", "column_type": "expression", "expr": "{{ 1 }}"}]}}`))
	f.Add([]byte("columns:\n  - {name: a, column_type: expression, expr: \"{{ b }}\"}\n  - {name: b, column_type: expression, expr: \"{{ a }}\"}\n"))
	f.Add([]byte("columns:\n  - {name: a, column_type: sampler, sampler_type: subcategory, params: {category: a, values: {1: []}}}\n"))
	f.Add([]byte("columns: [\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("columns:\n  - {name: a, column_type: expression, expr: \"{% for x in %}\"}\n"))
	f.Add([]byte(""))
	f.Add([]byte(ddExample))
	f.Add([]byte("model_configs: [{alias: m, model: x, provider: p, inference_parameters: {top_p: {distribution_type: manual, params: {values: [1], weights: [2]}}}}]\nmodel_providers: [{name: p, endpoint: \"http://x\"}]\ncolumns:\n  - {name: a, column_type: llm-structured, model_alias: m, prompt: hi, output_format: {$ref: \"#/$defs/x\", $defs: {x: {type: string}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			require.Nil(t, cfg)
			for _, e := range errorsOf(err) {
				require.NotEmpty(t, e.Msg)
			}
			return
		}
		require.NotNil(t, cfg)
		require.NotEmpty(t, cfg.Columns)
		require.Len(t, cfg.Order, len(cfg.Columns))
		_ = cfg.Hash()
		_ = cfg.JSON()
	})
}

func TestConstraints(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: hi, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - {name: lo, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
constraints:
  - {target_column: hi, operator: gt, rhs: lo}
  - {target_column: lo, operator: le, rhs: "0.5"}
  - {target_column: lo, operator: ge, rhs: 0}
  - {constraint_type: column_inequality, target_column: hi, operator: ge, rhs: lo}
`))
	require.NoError(t, err)
	require.Equal(t, []*Constraint{
		{Type: ConstraintColumn, Target: "hi", Operator: "gt", Column: "lo", Index: 0},
		{Type: ConstraintScalar, Target: "lo", Operator: "le", Scalar: 0.5, Index: 1},
		{Type: ConstraintScalar, Target: "lo", Operator: "ge", Scalar: 0, Index: 2},
		{Type: ConstraintColumn, Target: "hi", Operator: "ge", Column: "lo", Index: 3},
	}, cfg.Constraints)
	// The target is drawn again against the rhs's values, so the rhs comes first.
	require.Equal(t, []string{"lo", "hi"}, cfg.Order)
	require.Equal(t, []string{"lo"}, cfg.Column("hi").Inputs)
}

func TestValidateChecksSamplerParams(t *testing.T) {
	t.Parallel()
	cfg := &Config{Columns: []*Column{
		{Name: "u", Type: TypeSampler, SamplerType: SamplerUniform, Params: &UniformParams{Low: 2, High: 1}},
		{Name: "c", Type: TypeSampler, SamplerType: SamplerCategory, Params: &CategoryParams{Values: []any{"x"}, Weights: []float64{-1}}},
		{Name: "p", Type: TypeSampler, SamplerType: SamplerPoisson, Params: &PoissonParams{Mean: 0}},
	}}
	var msgs []string
	for _, e := range errorsOf(cfg.Validate()) {
		msgs = append(msgs, e.Error())
	}
	require.ElementsMatch(t, []string{
		`column "u": params.high: must be greater than low (low 2.0, high 1.0)`,
		`column "c": params.weights[0]: must not be negative, got -1.0`,
		`column "p": params.mean: must be greater than 0 and at most 1e15, got 0.0`,
	}, msgs)
}

// TestSourceKeepsOrderAndTypes: the conditions of a sampler apply in the file's order (the
// last that holds wins), and a process that parses Source again sees the same config: the
// same order, the same hash, floats still floats.
func TestSourceKeepsOrderAndTypes(t *testing.T) {
	t.Parallel()
	const doc = `
data_designer:
  columns:
    - {name: a, column_type: sampler, sampler_type: category, params: {values: [1.0, 2.0]}}
    - name: b
      column_type: sampler
      sampler_type: bernoulli
      params: {p: 0.5}
      conditional_params:
        "a > 2": {p: 0.9}
        "a > 1": {p: 0.1}
        "a == 1": {p: 1}
    - {name: c, column_type: expression, expr: "{{ a }} <&> é", dtype: str}
library_version: 0.5.0
`
	conds := func(cfg *Config) []string {
		var out []string
		for _, c := range cfg.Column("b").Conditional {
			out = append(out, c.Condition)
		}
		return out
	}
	cfg, err := Parse([]byte(doc))
	require.NoError(t, err)
	require.Equal(t, []string{"a > 2", "a > 1", "a == 1"}, conds(cfg))
	require.Equal(t, frame.Float, cfg.Column("a").Output)

	again, err := Parse(cfg.Source)
	require.NoError(t, err, "%s", cfg.Source)
	require.Equal(t, conds(cfg), conds(again))
	require.Equal(t, cfg.Hash(), again.Hash())
	require.Equal(t, cfg.Raw, again.Raw)
	require.Equal(t, frame.Float, again.Column("a").Output)
}

func TestSkip(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: category, params: {values: [x, y]}}
  - {name: b, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}}
  - {name: n, column_type: expression, expr: "{{ a }}", dtype: int, skip: {when: "{{ b == 1 }}", value: 1.9}}
  - {name: f, column_type: expression, expr: "{{ n }}", dtype: bool, skip: {when: "{{ a == 'x' }}", value: "False"}, propagate_skip: false}
  - {name: s, column_type: expression, expr: "{{ f }}", skip: {when: "{{ b }}", value: 0}}
  - {name: t, column_type: expression, expr: "{{ s }}"}
`))
	require.NoError(t, err)
	require.Equal(t, &Skip{When: "{{ b == 1 }}", Value: int64(1), Inputs: []string{"b"}}, cfg.Column("n").Skip, "int(1.9) is 1")
	require.Equal(t, true, cfg.Column("f").Skip.Value, `bool("False") is True`)
	require.False(t, cfg.Column("f").PropagateSkip)
	require.Equal(t, "0", cfg.Column("s").Skip.Value)
	require.Nil(t, cfg.Column("t").Skip)
	require.True(t, cfg.Column("t").PropagateSkip)
	// skip.when orders a column after what it reads without being one of its Inputs.
	require.Equal(t, []string{"a"}, cfg.Column("n").Inputs)
	require.Equal(t, []string{"a", "b"}, cfg.Column("n").AllInputs())
}

// The values of a category and its conditional params may differ in type: the column holds
// what fits them all, and a subcategory must cover the conditional values too.
func TestConditionalCategoryTypes(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: b, column_type: sampler, sampler_type: category, params: {values: [1, 2]}, conditional_params: {"a == 'x'": {values: [p, q]}}}
  - {name: c, column_type: sampler, sampler_type: subcategory, params: {category: b, values: {"1": [x], "2": [y], p: [z], q: [w]}}}
`))
	require.NoError(t, err)
	require.Equal(t, frame.String, cfg.Column("b").Output)
	_, err = Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: b, column_type: sampler, sampler_type: category, params: {values: [1, 2]}, conditional_params: {"a == 'x'": {values: [p]}}}
  - {name: c, column_type: sampler, sampler_type: subcategory, params: {category: b, values: {"1": [x], "2": [y]}}}
`))
	require.ErrorContains(t, err, `column "c": params.values: no values for "p", a value of category column "b"`)
}

func TestValidationColumn(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: b, column_type: sampler, sampler_type: uuid}
  - {name: v, column_type: validation, target_columns: [b, a], validator_type: remote, validator_params: {endpoint_url: "https://check.example/v1"}}
`))
	require.NoError(t, err)
	v := cfg.Column("v")
	require.Equal(t, frame.String, v.Output)
	require.Equal(t, []string{"a", "b"}, v.Inputs)
	require.Equal(t, &Validation{TargetColumns: []string{"b", "a"}, Type: ValidatorRemote, BatchSize: 10, EndpointURL: "https://check.example/v1",
		Timeout: 30, MaxRetries: 3, RetryBackoff: 2, MaxParallelRequests: 4}, v.Validation)
}
