package generators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// ctxCheckEvery is how many rows an expression renders between checks of ctx.
const ctxCheckEvery = 256

// maxErrText bounds how much rendered text a row error quotes.
const maxErrText = 200

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
	tpl, err := jinja.Compile(col.Expr)
	if err != nil {
		return nil, fmt.Errorf("column %q: compile expression: %w", col.Name, err)
	}
	switch col.DType {
	case frame.String, frame.Int, frame.Float, frame.Bool:
	default:
		return nil, fmt.Errorf("column %q: unsupported dtype %s", col.Name, col.DType)
	}
	e := &expression{name: col.Name, dtype: col.DType, inputs: slices.Clone(col.Inputs), tpl: tpl}
	return withSkip(&scheduler.Generator{Name: col.Name, Type: col.DType, Column: e.column}, col)
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
			return nil, nil, &scheduler.FatalError{Err: &scheduler.ColumnError{Column: e.name, Err: fmt.Errorf("input column %q is missing", name)}}
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
			data[e.inputs[i]] = jinja.Value(c.Value(row))
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
		return nil, nil, &scheduler.FatalError{Err: &scheduler.ColumnError{Column: e.name, Err: fmt.Errorf("expression failed on all %d rows; first: %w", len(rows), first)}}
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
