// Package jinja is rowforge's one Jinja environment: gonja with a Python-compatible round
// filter, templates that cannot load files, and cell values decoded as Data Designer does. An
// expression column and a schema_transform render a template the same way because both come
// here.
package jinja

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/logging"

	"github.com/rowforge/rowforge/internal/pyfmt"
)

var (
	envOnce sync.Once
	env     *exec.Environment
)

// templateEnv is gonja's default environment with a Python-compatible round filter. Building
// it also switches gonja's logging off: gonja logs through the global logrus logger, gated by
// its own flag, and nothing it logs while rendering user templates is useful to us. The flag
// (not logrus' output, which other code may use) is set once, so a program that deliberately
// re-enables it later keeps its choice.
func templateEnv() *exec.Environment {
	envOnce.Do(func() {
		logging.SetEnabled(false)
		filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
		if err := filters.Replace("round", filterRound); err != nil {
			panic(err) // gonja always registers round
		}
		env = &exec.Environment{
			Context:           gonja.DefaultContext,
			Filters:           filters,
			Tests:             builtins.Tests,
			ControlStructures: builtins.ControlStructures,
			Methods:           builtins.Methods,
		}
	})
	return env
}

// rootID names the template inside its loader.
const rootID = "expr"

// exprLoader serves the template's own source and nothing else, so {% include %},
// {% extends %} and {% import %} cannot read files.
type exprLoader struct{ src string }

func (l exprLoader) Read(path string) (io.Reader, error) {
	if path != rootID {
		return nil, fmt.Errorf("templates cannot load other templates (%q)", path)
	}
	return strings.NewReader(l.src), nil
}

func (l exprLoader) Resolve(path string) (string, error) { return path, nil }

func (l exprLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// Value is what a template sees for a cell. Like Data Designer
// (deserialize_json_values), a string holding a JSON value is decoded: objects to maps, arrays
// to lists, numbers to int64 or float64, true/false/null to bools and nil.
func Value(v any) any {
	s, ok := v.(string)
	if !ok || !maybeJSON(s) {
		return v
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return v
	}
	if _, err := dec.Token(); err != io.EOF { // trailing data: not one JSON value
		return v
	}
	return fromJSON(out)
}

// maybeJSON is a cheap filter: could s be a JSON document?
func maybeJSON(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9'):
		return true
	case c == 't' || c == 'f' || c == 'n':
		s = strings.TrimRight(s, " \t\r\n")
		return s == "true" || s == "false" || s == "null"
	}
	return false
}

func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, err := x.Float64()
		if err != nil {
			return string(x)
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSON(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = fromJSON(e)
		}
		return x
	}
	return v
}

// filterRound is Jinja's round(value, precision=0, method='common'). "common" is Python's
// round(): ties go to even and the exact binary value decides ("{{ 2.5 | round }}" is 2.0,
// "{{ 2.675 | round(2) }}" is 2.67), and ints stay ints. "floor" and "ceil" return floats.
func filterRound(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var (
		precision int
		method    string
	)
	if err := params.Take(
		exec.KeywordArgument("precision", exec.AsValue(0), exec.IntArgument(&precision)),
		exec.KeywordArgument("method", exec.AsValue("common"), exec.StringEnumArgument(&method, []string{"common", "ceil", "floor"})),
	); err != nil {
		return exec.AsValue(fmt.Errorf("round: %w", err))
	}
	var (
		isInt bool
		i     int64
		f     float64
	)
	switch {
	case in.IsBool():
		isInt = true
		if in.Bool() {
			i = 1
		}
	case in.IsInteger():
		isInt, i = true, int64(in.Integer())
	case in.IsFloat():
		f = in.Float()
	default:
		return exec.AsValue(fmt.Errorf("round: %s is not a number", in.String()))
	}
	if isInt {
		f = float64(i)
	}
	switch method {
	case "common":
		if isInt {
			return exec.AsValue(roundIntHalfEven(i, precision))
		}
		return exec.AsValue(pyfmt.Round(f, precision))
	case "floor":
		p := math.Pow(10, float64(precision))
		return exec.AsValue(math.Floor(f*p) / p)
	default: // ceil
		p := math.Pow(10, float64(precision))
		return exec.AsValue(math.Ceil(f*p) / p)
	}
}

// roundIntHalfEven is Python's round(i, n) for an int: unchanged for n ≥ 0, else rounded to a
// multiple of 10⁻ⁿ with ties to even.
func roundIntHalfEven(i int64, n int) int64 {
	if n >= 0 {
		return i
	}
	if n < -18 {
		return 0
	}
	p := int64(1)
	for range -n {
		p *= 10
	}
	q, r := i/p, i%p
	if r < 0 {
		q, r = q-1, r+p
	}
	switch {
	case 2*r > p, 2*r == p && q%2 != 0:
		q++
	}
	return q * p
}

// Compile parses a template with rowforge's environment.
func Compile(src string) (*exec.Template, error) {
	return exec.NewTemplate(rootID, gonja.DefaultConfig, exprLoader{src: src}, templateEnv())
}

// CompileStrict is Compile with an undefined name or a missing attribute an error (Jinja's
// StrictUndefined), the environment Data Designer renders skip.when in.
func CompileStrict(src string) (*exec.Template, error) {
	cfg := gonja.DefaultConfig.Inherit()
	cfg.StrictUndefined = true
	return exec.NewTemplate(rootID, cfg, exprLoader{src: src}, templateEnv())
}
