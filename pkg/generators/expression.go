package generators

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/logging"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/scheduler"
)

// ctxCheckEvery is how many rows an expression renders between checks of ctx.
const ctxCheckEvery = 256

// maxErrText bounds how much rendered text a row error quotes.
const maxErrText = 200

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

// Expression compiles col.Expr and returns a FullColumn generator for the column: Name, Type
// (col.DType) and Inputs come from col. The generator renders the template once per listed row
// with the row's input values, trims surrounding whitespace and casts the text to the dtype
// (see castText). A row whose render or cast fails is dropped with an error naming the column,
// the row and the rendered text; if every listed row fails, the call returns a
// *scheduler.FatalError. Compile errors are returned here, naming the column.
//
// The generator is safe for concurrent use; each call allocates its own render state.
func Expression(col *config.Column) (*scheduler.Generator, error) {
	if col == nil {
		return nil, errors.New("generators: nil expression column")
	}
	tpl, err := exec.NewTemplate(rootID, gonja.DefaultConfig, exprLoader{src: col.Expr}, templateEnv())
	if err != nil {
		return nil, fmt.Errorf("column %q: compile expression: %w", col.Name, err)
	}
	switch col.DType {
	case frame.String, frame.Int, frame.Float, frame.Bool:
	default:
		return nil, fmt.Errorf("column %q: unsupported dtype %s", col.Name, col.DType)
	}
	e := &expression{name: col.Name, dtype: col.DType, inputs: slices.Clone(col.Inputs), tpl: tpl}
	return &scheduler.Generator{
		Name:   col.Name,
		Type:   col.DType,
		Inputs: slices.Clone(col.Inputs),
		Column: e.column,
	}, nil
}

type expression struct {
	name   string
	dtype  frame.Type
	inputs []string
	tpl    *exec.Template
}

func (e *expression) column(ctx context.Context, in *frame.Frame, rows []int) (*frame.Column, map[int]error, error) {
	n := in.Len()
	cols := make([]*frame.Column, len(e.inputs))
	for i, name := range e.inputs {
		if cols[i] = in.Column(name); cols[i] == nil {
			// Every group would fail the same way: a scheduling bug, not a data problem.
			return nil, nil, &scheduler.FatalError{Err: fmt.Errorf("column %q: input column %q is missing", e.name, name)}
		}
	}
	out := frame.NewColumn(e.name, e.dtype, n)
	out.Valid = make([]bool, n) // rows not listed, or failed, stay null
	// gonja copies the context's map into a fresh one per render, so one map serves every row.
	data := make(map[string]any, len(e.inputs))
	tctx := exec.NewContext(data)
	var (
		buf     bytes.Buffer
		rowErrs map[int]error
		first   error
		valid   int
	)
	for j, row := range rows {
		if j%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		if row < 0 || row >= n {
			return nil, nil, fmt.Errorf("column %q: row %d out of range [0, %d)", e.name, row, n)
		}
		for i, c := range cols {
			data[e.inputs[i]] = templateValue(c.Value(row))
		}
		err := e.renderRow(out, row, tctx, &buf)
		if err != nil {
			if rowErrs == nil {
				rowErrs = map[int]error{}
			}
			rowErrs[row] = err
			if first == nil {
				first = err
			}
			continue
		}
		valid++
	}
	if len(rows) > 0 && valid == 0 {
		return nil, nil, &scheduler.FatalError{Err: fmt.Errorf("column %q: expression failed on all %d rows; first: %w", e.name, len(rows), first)}
	}
	if valid == n {
		out.Valid = nil
	}
	return out, rowErrs, nil
}

func (e *expression) renderRow(out *frame.Column, row int, tctx *exec.Context, buf *bytes.Buffer) error {
	buf.Reset()
	if err := e.tpl.Execute(buf, tctx); err != nil {
		return fmt.Errorf("column %q: row %d: render: %w", e.name, row, err)
	}
	text := strings.TrimSpace(buf.String())
	if text == "" {
		return fmt.Errorf("column %q: row %d: template rendered empty text %q", e.name, row, clip(buf.String()))
	}
	var err error
	switch e.dtype {
	case frame.String:
		out.Strings[row] = text
	case frame.Int:
		out.Ints[row], err = castInt(text)
	case frame.Float:
		out.Floats[row], err = castFloat(text)
	case frame.Bool:
		out.Bools[row], err = castBool(text)
	}
	if err != nil {
		return fmt.Errorf("column %q: row %d: cannot cast rendered text %q to %s: %w", e.name, row, clip(text), e.dtype, err)
	}
	out.Valid[row] = true
	return nil
}

func clip(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	return s[:maxErrText] + "…"
}

// castInt is Data Designer's int(float(text)), except that integer text is parsed exactly
// rather than through a float: "4" → 4, "4.0" → 4, "4.7" → 4, "-4.7" → -4.
func castInt(text string) (int64, error) {
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return i, nil
	}
	f, err := parseFloat(text)
	if err != nil {
		return 0, err
	}
	t := math.Trunc(f)
	if math.IsNaN(t) || t < -(1<<63) || t >= 1<<63 {
		return 0, fmt.Errorf("%s is not a finite int64", pyfmt.Float(f))
	}
	return int64(t), nil
}

// castFloat is Python's float(text); out-of-range text gives ±inf as in Python.
func castFloat(text string) (float64, error) { return parseFloat(text) }

// castBool is Data Designer's rule: text that parses as a number is true when its integer
// part is non-zero ("1" → true, "0.0" → false, "0.5" → false); otherwise it is true exactly
// when it equals "true" case-insensitively, so "True" → true and "False", "no" → false.
func castBool(text string) (bool, error) {
	if f, err := parseFloat(text); err == nil {
		if math.IsInf(f, 0) {
			return false, errors.New("cannot convert infinity to int")
		}
		return !math.IsNaN(f) && math.Trunc(f) != 0, nil
	}
	return strings.EqualFold(text, "true"), nil
}

func parseFloat(text string) (float64, error) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, nil
		}
		return 0, errors.New("not a number")
	}
	return f, nil
}

// templateValue is what a template sees for a cell. Like Data Designer
// (deserialize_json_values), a string holding a JSON value is decoded: objects to maps, arrays
// to lists, numbers to int64 or float64, true/false/null to bools and nil.
func templateValue(v any) any {
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
		return exec.AsValue(pyRound(f, precision))
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
