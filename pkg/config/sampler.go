package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// SamplerParams are the params of one sampler_type. Each sampler has one file here
// (sampler_<type>.go) with its params type, its decoder and its rules, and one in generators
// with its draw; adding a sampler touches nothing else.
type SamplerParams interface {
	// SamplerType is the sampler_type the params belong to.
	SamplerType() string
	// Check reports what is wrong with the values, each problem an *Error whose Field is the
	// param's key ("high", "weights[2]"). Parse and Validate both call it, so a config built in
	// code obeys the same rules as one read from YAML, and generators do not check again.
	Check() error
	// Output is the type of the values drawn, before convert_to.
	Output() frame.Type
}

// columnReader is implemented by the params of samplers that read another column (a
// subcategory its parent, a timedelta its reference).
type columnReader interface {
	SamplerParams
	// reads returns the param that names the column, and the column ("" when unset).
	reads() (key, column string)
	// checkRead says what is wrong with reading target, a sampler column, or "".
	checkRead(target *Column) string
}

// normalizer is implemented by params that rewrite their values once they are checked
// (category weights are normalized to sum 1, as Data Designer's after-validator does).
type normalizer interface{ normalize() }

// convertKind says which convert_to values a sampler takes.
type convertKind uint8

const (
	convertNone    convertKind = iota
	convertNumeric             // int, float or str
	convertTime                // a strftime format
)

// samplerSpec is what the registry knows of a sampler_type.
type samplerSpec struct {
	decode  func(*fields) SamplerParams
	convert convertKind
	// paramsOptional: the sampler runs on its defaults when params is absent (uuid, persons).
	paramsOptional bool
}

var samplers = map[string]samplerSpec{}

// registerSampler adds a sampler_type; each sampler_<type>.go calls it from init.
func registerSampler(name string, spec samplerSpec) {
	if _, dup := samplers[name]; dup {
		panic("config: sampler_type registered twice: " + name)
	}
	samplers[name] = spec
}

// SamplerTypes lists the sampler types rowforge generates, sorted.
func SamplerTypes() []string {
	return sortedKeys(samplers)
}

// paramErrs collects a params value's problems for Check.
type paramErrs []error

func (e *paramErrs) add(field, format string, args ...any) {
	*e = append(*e, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (e paramErrs) err() error { return errors.Join(e...) }

// checkParams runs p.Check and reports its problems against column, with the params' key
// path prefix ("params.", "conditional_params[x > 1].").
func checkParams(pr *problems, column, prefix string, p SamplerParams) bool {
	err := p.Check()
	if err == nil {
		return true
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var ce *Error
		if errors.As(e, &ce) {
			pr.add(column, prefix+ce.Field, "%s", ce.Msg)
		} else {
			pr.add(column, strings.TrimSuffix(prefix, "."), "%v", e)
		}
	}
	return false
}

// parseSampler decodes the index-th column, a sampler: the sampler type, its params, conditional_params and
// convert_to.
func parseSampler(f *fields, index int, col *Column) {
	st, _ := f.str("sampler_type", false)
	convertTo, hasConvertTo := f.str("convert_to", false)

	pv, hasParams := f.get("params")
	var params map[string]any
	if hasParams {
		if params, hasParams = pv.(map[string]any); !hasParams {
			f.errorf("params", "want a mapping, got %s", describe(pv))
		}
	}
	// Data Designer copies the column's sampler_type into params only when params lacks one,
	// so a sampler_type inside params wins.
	if s, ok := params["sampler_type"].(string); ok {
		st = s
	}
	spec, ok := samplerSpecOf(f, st)
	if !ok {
		f.get("conditional_params") // reported with the type; not an unknown key
		return
	}
	col.SamplerType = st

	switch {
	case hasParams:
		col.Params = decodeSamplerParams(f, col.Name, "params.", st, spec, params)
	case pv != nil: // params of the wrong type, reported above
	case spec.paramsOptional:
		col.Params = decodeSamplerParams(f, col.Name, "params.", st, spec, map[string]any{})
	default:
		f.errorf("params", "required for sampler_type %s", st)
	}
	if col.Params != nil {
		col.Output = col.Params.Output()
	}
	parseConditional(f, index, col, spec)
	checkConditionalOutputs(f.p, col)
	col.Inputs = samplerInputs(col)
	if hasConvertTo {
		parseConvertTo(f, col, spec, convertTo)
	}
}

// samplerSpecOf looks a sampler_type up, reporting one that is missing or unknown.
func samplerSpecOf(f *fields, st string) (samplerSpec, bool) {
	if st == "" {
		f.errorf("sampler_type", "required")
		return samplerSpec{}, false
	}
	spec, ok := samplers[st]
	if !ok {
		names := SamplerTypes()
		msg := fmt.Sprintf("unknown sampler_type %q (want one of %s)", st, strings.Join(names, ", "))
		if s := closest(st, names); s != "" {
			msg = fmt.Sprintf("unknown sampler_type %q (did you mean %q?)", st, s)
		}
		f.errorf("sampler_type", "%s", msg)
	}
	return spec, ok
}

// decodeSamplerParams decodes one params mapping of sampler type st, reports its unknown keys
// and, when it decoded cleanly, checks and normalizes it. It returns nil when the mapping
// names another sampler type.
func decodeSamplerParams(f *fields, column, prefix, st string, spec samplerSpec, m map[string]any) SamplerParams {
	pf := newFields(f.p, column, f.prefix+prefix, "param", m)
	if s, ok := pf.str("sampler_type", false); ok && s != st {
		pf.errorf("sampler_type", "sampler_type %q differs from the column's %q", s, st)
		return nil
	}
	before := len(f.p.errs)
	p := spec.decode(pf)
	pf.unknown()
	if len(f.p.errs) != before {
		return p // kept so that readers of the column do not report it as unknown too
	}
	if checkParams(f.p, column, f.prefix+prefix, p) {
		if n, ok := p.(normalizer); ok {
			n.normalize()
		}
	}
	return p
}

// valueLister is implemented by the params of samplers that draw from listed values
// (category, subcategory): a column's params and conditional params may list values of
// different types, and the column holds the type that fits them all.
type valueLister interface{ listedValues() []any }

// checkConditionalOutputs makes sure every params of a column draws one type of value, so
// that rows drawn with different params fit one column: listed values widen to the type that
// fits all of them; other samplers must agree (a norm and a poisson in one column do not).
func checkConditionalOutputs(p *problems, col *Column) bool {
	if col.Params == nil || len(col.Conditional) == 0 {
		return true
	}
	if _, ok := col.Params.(valueLister); ok {
		var all []any
		for _, sp := range append([]SamplerParams{col.Params}, conditionalParams(col)...) {
			if vl, ok := sp.(valueLister); ok {
				all = append(all, vl.listedValues()...)
			}
		}
		if col.ConvertTo == "" {
			col.Output = valuesType(all)
		}
		return true
	}
	ok := true
	for _, c := range col.Conditional {
		if c.Params != nil && c.Params.Output() != col.Params.Output() {
			p.add(col.Name, fmt.Sprintf("conditional_params[%s]", c.Condition),
				"draws %s values where the column's params draw %s: every params of a column must draw one type", c.Params.Output(), col.Params.Output())
			ok = false
		}
	}
	return ok
}

func conditionalParams(col *Column) []SamplerParams {
	var out []SamplerParams
	for _, c := range col.Conditional {
		if c.Params != nil {
			out = append(out, c.Params)
		}
	}
	return out
}

// samplerInputs lists the columns a sampler reads: the one its params name, and the ones its
// conditions read.
func samplerInputs(col *Column) []string {
	var in []string
	if r, ok := col.Params.(columnReader); ok {
		if _, c := r.reads(); c != "" {
			in = append(in, c)
		}
	}
	for _, cp := range col.Conditional {
		in = append(in, cp.Inputs...)
		if r, ok := cp.Params.(columnReader); ok {
			if _, c := r.reads(); c != "" {
				in = append(in, c)
			}
		}
	}
	sort.Strings(in)
	return slices.Compact(in)
}

// parseConvertTo decodes convert_to, which changes the output type of a numeric sampler or
// the text format of a datetime or timedelta sampler.
func parseConvertTo(f *fields, col *Column, spec samplerSpec, ct string) {
	col.ConvertTo = ct
	switch spec.convert {
	case convertNumeric:
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
	case convertTime:
		if err := checkStrftime(ct); err != nil {
			f.errorf("convert_to", "%v", err)
		}
	default:
		f.errorf("convert_to", "convert_to is not supported for sampler_type %s", col.SamplerType)
	}
}

// scalarList decodes a non-empty list of category values: strings, integers or floats, each
// kept with its YAML type.
func scalarList(f *fields, key string, v any) []any {
	return listOfType(f, key, v, "values", "must list at least one value", "a string or a number", func(x any) (any, bool) {
		switch x.(type) {
		case string, int64, float64:
			return x, true
		}
		return nil, false
	})
}

// weights decodes, checks and normalizes the optional weights of n values (a manual
// distribution's), reporting problems on f; nil when unset or invalid.
func weights(f *fields, n int) []float64 {
	v, ok := f.get("weights")
	if !ok {
		return nil
	}
	w := numberList(f, "weights", v)
	if w == nil {
		return nil
	}
	var e paramErrs
	checkWeights(&e, w, n)
	for _, err := range e {
		pe := err.(*Error)
		f.errorf(pe.Field, "%s", pe.Msg)
	}
	if len(e) > 0 {
		return nil
	}
	normalizeWeights(w)
	return w
}

// checkWeights checks n values' weights: one non-negative number each, with a positive, finite
// sum.
func checkWeights(e *paramErrs, weights []float64, n int) {
	if weights == nil {
		return
	}
	if len(weights) != n {
		e.add("weights", "%d weights for %d values: want one weight per value", len(weights), n)
		return
	}
	sum, valid := 0.0, true
	for i, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			e.add(fmt.Sprintf("weights[%d]", i), "must not be negative, got %s", pyfmt.Float(w))
			valid = false
		}
		sum += w
	}
	if valid && (sum == 0 || math.IsInf(sum, 0)) {
		e.add("weights", "must have a positive, finite sum, got %s", pyfmt.Float(sum))
	}
}

// normalizeWeights scales checked weights to sum 1.
func normalizeWeights(w []float64) {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	for i := range w {
		w[i] /= sum
	}
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

func checkProbability(e *paramErrs, p float64) {
	if !(p >= 0 && p <= 1) {
		e.add("p", "must be between 0 and 1, got %s", pyfmt.Float(p))
	}
}

func checkFinite(e *paramErrs, key string, x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		e.add(key, "must be a finite number, got %s", pyfmt.Float(x))
		return false
	}
	return true
}

func checkDecimalPlaces(e *paramErrs, n *int) {
	if n != nil && *n < 0 {
		e.add("decimal_places", "must be at least 0, got %d", *n)
	}
}

func decimalPlaces(f *fields) *int {
	n, ok := f.int("decimal_places", false)
	if !ok {
		return nil
	}
	return &n
}

// unit decodes a datetime or timedelta unit; Check validates it.
func unit(f *fields) string {
	u, _ := f.str("unit", false)
	return u
}

func checkUnit(e *paramErrs, u string, allowed ...string) {
	if u != "" && !slices.Contains(allowed, u) {
		e.add("unit", "unknown unit %q (want one of %s)", u, strings.Join(allowed, " "))
	}
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

func itoa(i int) string { return strconv.Itoa(i) }
