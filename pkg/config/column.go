package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// laterColumnTypes are the Data Designer column types that rowforge does not generate yet (the
// LLM types it does: see IsLLM). They get their own message so that a user knows the config
// is valid Data Designer, not a typo.
var laterColumnTypes = map[string]bool{
	"embedding": true, "image": true, "validation": true, "seed-dataset": true, "custom": true,
}

// columnTypes are the column types rowforge generates.
var columnTypes = []string{
	TypeSampler, TypeExpression, TypeLLMText, TypeLLMCode, TypeLLMStructured, TypeLLMJudge,
}

// laterSamplerTypes are Data Designer sampler types that rowforge does not implement yet.
var laterSamplerTypes = map[string]bool{
	"bernoulli_mixture": true, "scipy": true, "person": true, "person_from_faker": true,
}

var samplerTypes = []string{
	SamplerUUID, SamplerCategory, SamplerSubcategory, SamplerUniform, SamplerGaussian,
	SamplerBernoulli, SamplerBinomial, SamplerPoisson, SamplerDatetime, SamplerTimedelta,
}

// parseColumn decodes the i-th entry of `columns`. It returns nil when the entry is not a
// mapping; otherwise the column as far as it could be decoded, and whether it was decoded
// without problems. A column with problems is still returned so that references to it from
// other columns are not reported as unknown as well.
func parseColumn(p *problems, i int, v any) (*Column, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("", fmt.Sprintf("columns[%d]", i), "want a column mapping, got %s", describe(v))
		return nil, false
	}
	before := len(p.errs)
	col := &Column{}
	// A column is named by its name; one without a usable name by its position.
	prefix := fmt.Sprintf("columns[%d].", i)
	if n, ok := m["name"].(string); ok && strings.TrimSpace(n) != "" {
		col.Name, prefix = n, ""
	}
	f := newFields(p, col.Name, prefix, "key", m)
	if n, ok := f.str("name", true); ok && strings.TrimSpace(n) == "" {
		f.errorf("name", "must not be empty")
	}
	col.Drop, _ = f.bool("drop")
	if _, ok := f.get("skip"); ok {
		f.errorf("skip", "skip is not supported yet")
	}
	// true is the default and means nothing while no column can be skipped.
	if ps, ok := f.bool("propagate_skip"); ok && !ps {
		f.errorf("propagate_skip", "propagate_skip is not supported yet (only its default, true)")
	}

	ct, ok := f.str("column_type", true)
	col.Type = ct
	switch {
	case !ok:
		return col, false // without a type the allowed keys are unknown
	case ct == TypeSampler:
		parseSampler(f, col)
	case ct == TypeExpression:
		parseExpression(f, col)
	case IsLLM(ct):
		parseLLM(f, col)
	case laterColumnTypes[ct]:
		f.errorf("column_type", "column_type %q is not supported yet", ct)
		return col, false
	default:
		f.errorf("column_type", "%s", unknownMsg("column_type", ct, columnTypes))
		return col, false
	}
	f.unknown()
	return col, len(p.errs) == before
}

// parseExpression decodes an expression column: a Jinja template and the type its rendered
// text is converted to.
func parseExpression(f *fields, col *Column) {
	if expr, ok := f.str("expr", true); ok {
		col.Expr = expr
		if strings.TrimSpace(expr) == "" {
			f.errorf("expr", "must not be blank")
		} else if refs, err := TemplateRefs(expr); err != nil {
			f.errorf("expr", "invalid Jinja template: %v", err)
		} else {
			col.Inputs = refs
		}
	}
	dtype, _ := f.str("dtype", false)
	t, err := frame.ParseType(dtype)
	if err != nil {
		f.errorf("dtype", "%v", err)
	}
	col.DType, col.Output = t, t
}

// parseSampler decodes a sampler column: the sampler type, its params and convert_to.
func parseSampler(f *fields, col *Column) {
	if cp, ok := f.get("conditional_params"); ok && !isEmpty(cp) {
		f.errorf("conditional_params", "conditional_params is not supported yet")
	}
	st, _ := f.str("sampler_type", false)
	convertTo, hasConvertTo := f.str("convert_to", false)

	var params map[string]any
	pv, hasParams := f.get("params")
	if hasParams {
		if params, hasParams = pv.(map[string]any); !hasParams {
			f.errorf("params", "want a mapping, got %s", describe(pv))
		}
	}
	pf := newFields(f.p, col.Name, f.prefix+"params.", "param", params)
	// Data Designer copies the column's sampler_type into params only when params lacks one,
	// so a sampler_type inside params wins.
	if s, ok := pf.str("sampler_type", false); ok {
		st = s
	}
	switch {
	case st == "":
		f.errorf("sampler_type", "required")
		return
	case laterSamplerTypes[st]:
		f.errorf("sampler_type", "sampler_type %q is not supported yet", st)
		return
	case !slices.Contains(samplerTypes, st):
		msg := fmt.Sprintf("unknown sampler_type %q (want one of %s)", st, strings.Join(samplerTypes, ", "))
		if s := closest(st, samplerTypes); s != "" {
			msg = fmt.Sprintf("unknown sampler_type %q (did you mean %q?)", st, s)
		}
		f.errorf("sampler_type", "%s", msg)
		return
	}
	col.SamplerType = st

	switch {
	case hasParams:
		col.Params, col.Output = decodeParams(st, pf)
		pf.unknown()
	case pv != nil: // params of the wrong type, reported above
	case st == SamplerUUID: // uuid alone has no required params
		col.Params, col.Output = &UUIDParams{}, frame.String
	default:
		f.errorf("params", "required for sampler_type %s", st)
	}
	switch p := col.Params.(type) {
	case *SubcategoryParams:
		if p.Category != "" {
			col.Inputs = []string{p.Category}
		}
	case *TimedeltaParams:
		if p.ReferenceColumnName != "" {
			col.Inputs = []string{p.ReferenceColumnName}
		}
	}
	if hasConvertTo {
		parseConvertTo(f, col, convertTo)
	}
}

// decodeParams decodes the params of a sampler type and returns them with the type of the
// values the sampler produces.
func decodeParams(st string, f *fields) (any, frame.Type) {
	switch st {
	case SamplerUUID:
		p := &UUIDParams{}
		p.Prefix, _ = f.str("prefix", false)
		p.ShortForm, _ = f.bool("short_form")
		p.Uppercase, _ = f.bool("uppercase")
		return p, frame.String
	case SamplerCategory:
		p := decodeCategory(f)
		return p, valuesType(p.Values)
	case SamplerSubcategory:
		p := decodeSubcategory(f)
		var all []any
		for _, vs := range p.Values {
			all = append(all, vs...)
		}
		return p, valuesType(all)
	case SamplerUniform:
		p := &UniformParams{}
		low, okLow := f.float("low", true)
		high, okHigh := f.float("high", true)
		if okLow && okHigh && !(low < high) {
			f.errorf("high", "must be greater than low (low %s, high %s)", pyfmt.Float(low), pyfmt.Float(high))
		}
		p.Low, p.High = low, high
		p.DecimalPlaces = decimalPlaces(f)
		return p, frame.Float
	case SamplerGaussian:
		p := &GaussianParams{}
		p.Mean, _ = f.float("mean", true)
		if sd, ok := f.float("stddev", true); ok {
			if !(sd > 0) {
				f.errorf("stddev", "must be greater than 0, got %s", pyfmt.Float(sd))
			}
			p.Stddev = sd
		}
		p.DecimalPlaces = decimalPlaces(f)
		return p, frame.Float
	case SamplerBernoulli:
		return &BernoulliParams{P: probability(f)}, frame.Int
	case SamplerBinomial:
		p := &BinomialParams{}
		if n, ok := f.int("n", true); ok {
			if n < 0 {
				f.errorf("n", "must be at least 0, got %d", n)
			}
			p.N = n
		}
		p.P = probability(f)
		return p, frame.Int
	case SamplerPoisson:
		p := &PoissonParams{}
		if mean, ok := f.float("mean", true); ok {
			if !(mean > 0) {
				f.errorf("mean", "must be greater than 0, got %s", pyfmt.Float(mean))
			}
			p.Mean = mean
		}
		return p, frame.Int
	case SamplerDatetime:
		return decodeDatetime(f), frame.String
	case SamplerTimedelta:
		return decodeTimedelta(f), frame.String
	}
	return nil, frame.String // unreachable: st was checked by the caller
}

func decodeCategory(f *fields) *CategoryParams {
	p := &CategoryParams{}
	if v, ok := f.required("values"); ok {
		p.Values = scalarList(f, "values", v)
	}
	if p.Values != nil {
		p.Weights = weights(f, len(p.Values))
	} else {
		f.get("weights") // cannot be checked without valid values, but is no unknown key
	}
	return p
}

// weights decodes the optional `weights` of n values (a category sampler's, a manual
// distribution's): one non-negative number per value, normalized to sum 1. It returns nil
// when weights is unset (uniform) or has problems.
func weights(f *fields, n int) []float64 {
	wv, ok := f.get("weights")
	if !ok {
		return nil
	}
	list, isList := wv.([]any)
	if !isList {
		f.errorf("weights", "want a list of numbers, got %s", describe(wv))
		return nil
	}
	if len(list) != n {
		f.errorf("weights", "%d weights for %d values: want one weight per value", len(list), n)
		return nil
	}
	weights := make([]float64, len(list))
	sum, valid := 0.0, true
	for i, w := range list {
		x, isNum := number(w)
		switch {
		case !isNum:
			f.errorf(fmt.Sprintf("weights[%d]", i), "want a number, got %s", describe(w))
			valid = false
		case x < 0:
			f.errorf(fmt.Sprintf("weights[%d]", i), "must not be negative, got %s", pyfmt.Float(x))
			valid = false
		}
		weights[i] = x
		sum += x
	}
	if !valid {
		return nil
	}
	if sum == 0 || math.IsInf(sum, 0) {
		f.errorf("weights", "must have a positive, finite sum, got %s", pyfmt.Float(sum))
		return nil
	}
	for i := range weights {
		weights[i] /= sum
	}
	return weights
}

func decodeSubcategory(f *fields) *SubcategoryParams {
	p := &SubcategoryParams{}
	p.Category, _ = f.str("category", true)
	v, ok := f.required("values")
	if !ok {
		return p
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.errorf("values", "want a mapping from each value of %q to a list of values, got %s", p.Category, describe(v))
		return p
	}
	p.Values = make(map[string][]any, len(m))
	for _, k := range sortedKeys(m) {
		if vs := scalarList(f, "values."+k, m[k]); vs != nil {
			p.Values[k] = vs
		}
	}
	return p
}

// scalarList decodes a non-empty list of category values: strings, integers or floats, each
// kept with its YAML type.
func scalarList(f *fields, key string, v any) []any {
	list, ok := v.([]any)
	if !ok {
		f.errorf(key, "want a list of values, got %s", describe(v))
		return nil
	}
	if len(list) == 0 {
		f.errorf(key, "must list at least one value")
		return nil
	}
	valid := true
	for i, x := range list {
		switch x.(type) {
		case string, int64, float64:
		default:
			f.errorf(fmt.Sprintf("%s[%d]", key, i), "want a string or a number, got %s", describe(x))
			valid = false
		}
	}
	if !valid {
		return nil
	}
	return list
}

// valuesType is the column type of a set of category values: int when all are integers, float
// when all are numbers, else str.
func valuesType(vs []any) frame.Type {
	allInt, allNum := true, true
	for _, v := range vs {
		switch v.(type) {
		case int64:
		case float64:
			allInt = false
		default:
			allInt, allNum = false, false
		}
	}
	switch {
	case len(vs) == 0:
		return frame.String
	case allInt:
		return frame.Int
	case allNum:
		return frame.Float
	}
	return frame.String
}

func probability(f *fields) float64 {
	p, ok := f.float("p", true)
	if ok && !(p >= 0 && p <= 1) {
		f.errorf("p", "must be between 0 and 1, got %s", pyfmt.Float(p))
	}
	return p
}

func decimalPlaces(f *fields) *int {
	n, ok := f.int("decimal_places", false)
	if !ok {
		return nil
	}
	if n < 0 {
		f.errorf("decimal_places", "must be at least 0, got %d", n)
	}
	return &n
}

// timeLayouts are the date and time forms accepted for datetime bounds: the ISO-8601 shapes
// pandas.to_datetime reads in Data Designer configs.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", time.DateOnly}

func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func decodeDatetime(f *fields) *DatetimeParams {
	p := &DatetimeParams{}
	bound := func(key string) (time.Time, bool) {
		s, ok := f.str(key, true)
		if !ok {
			return time.Time{}, false
		}
		t, ok := parseTime(s)
		if !ok {
			f.errorf(key, "%q is not a date or time (want e.g. 2024-01-31, 2024-01-31 12:00:00 or 2024-01-31T12:00:00Z)", s)
		}
		return t, ok
	}
	start, okStart := bound("start")
	end, okEnd := bound("end")
	if okStart && okEnd && !start.Before(end) {
		f.errorf("end", "must be after start (the end is exclusive)")
	}
	p.Start, p.End = start, end
	p.Unit = unit(f, "D", "Y", "M", "D", "h", "m", "s")
	return p
}

func decodeTimedelta(f *fields) *TimedeltaParams {
	p := &TimedeltaParams{}
	dtMin, okMin := f.int("dt_min", true)
	if okMin && dtMin < 0 {
		f.errorf("dt_min", "must be at least 0, got %d", dtMin)
	}
	dtMax, okMax := f.int("dt_max", true)
	if okMax && okMin && dtMax <= dtMin {
		f.errorf("dt_max", "must be greater than dt_min (dt_min %d, dt_max %d)", dtMin, dtMax)
	}
	p.DtMin, p.DtMax = dtMin, dtMax
	p.ReferenceColumnName, _ = f.str("reference_column_name", true)
	p.Unit = unit(f, "D", "D", "h", "m", "s")
	return p
}

func unit(f *fields, def string, allowed ...string) string {
	u, ok := f.str("unit", false)
	if !ok {
		return def
	}
	if slices.Contains(allowed, u) {
		return u
	}
	f.errorf("unit", "unknown unit %q (want one of %s)", u, strings.Join(allowed, " "))
	return def
}

// parseConvertTo decodes convert_to, which changes the output type of a numeric sampler or
// the text format of a datetime or timedelta sampler.
func parseConvertTo(f *fields, col *Column, ct string) {
	col.ConvertTo = ct
	switch col.SamplerType {
	case SamplerUniform, SamplerGaussian, SamplerBernoulli, SamplerBinomial, SamplerPoisson:
		switch ct {
		case "int":
			col.Output = frame.Int
		case "float":
			col.Output = frame.Float
		case "str":
			col.Output = frame.String
		default:
			f.errorf("convert_to", "want int, float or str for a %s sampler, got %q", col.SamplerType, ct)
		}
	case SamplerDatetime, SamplerTimedelta:
		if err := checkStrftime(ct); err != nil {
			f.errorf("convert_to", "%v", err)
		}
	default:
		f.errorf("convert_to", "convert_to is not supported for sampler_type %s", col.SamplerType)
	}
}

// strftimeDirectives are the format codes of Python's strftime that every platform supports,
// the set the datetime samplers render.
const strftimeDirectives = "aAwdbBmyYHIpMSfzZjUWcxXGuV%"

// checkStrftime checks that a datetime format uses only known directives and at least one:
// a format without any would give every row the same text, which is never what was meant.
func checkStrftime(format string) error {
	directives := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i+1 == len(format) {
			return fmt.Errorf("strftime format %q ends with a lone %%", format)
		}
		d, size := utf8.DecodeRuneInString(format[i+1:])
		if !strings.ContainsRune(strftimeDirectives, d) {
			return fmt.Errorf("strftime format %q: unknown directive %%%c", format, d)
		}
		if d != '%' {
			directives++
		}
		i += size
	}
	if directives == 0 {
		return fmt.Errorf("want a strftime format such as %%Y-%%m-%%d, got %q", format)
	}
	return nil
}
