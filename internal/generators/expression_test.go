package generators

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/nikolalohinski/gonja/v2/logging"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// pointThree is 0.1+0.2 computed in floating point (a constant expression would be exact).
var pointOne, pointThree = 0.1, pointOne + 0.2

func exprCol(name, expr string, dtype frame.Type, inputs ...string) *config.Column {
	return &config.Column{Name: name, Type: config.TypeExpression, Expr: expr, DType: dtype, Output: dtype, Inputs: inputs}
}

// inFrame builds an n-row frame from the given columns.
func inFrame(t *testing.T, n int, cols ...*frame.Column) *frame.Frame {
	t.Helper()
	f := frame.New(n)
	for _, c := range cols {
		require.NoError(t, f.Put(c))
	}
	return f
}

func strCol(name string, vs ...string) *frame.Column {
	return &frame.Column{Name: name, Type: frame.String, Strings: vs}
}

func intCol(name string, vs ...int64) *frame.Column {
	return &frame.Column{Name: name, Type: frame.Int, Ints: vs}
}

func floatCol(name string, vs ...float64) *frame.Column {
	return &frame.Column{Name: name, Type: frame.Float, Floats: vs}
}

func boolCol(name string, vs ...bool) *frame.Column {
	return &frame.Column{Name: name, Type: frame.Bool, Bools: vs}
}

func allRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// render runs an expression over every row of in and requires success.
func render(t *testing.T, col *config.Column, in *frame.Frame) (*frame.Column, map[int]error) {
	t.Helper()
	g, err := Expression(col)
	require.NoError(t, err)
	out, rowErrs, err := g.Column(context.Background(), in, allRows(in.Len()))
	require.NoError(t, err)
	require.Equal(t, in.Len(), out.Len())
	return out, rowErrs
}

func TestExpressionGenerator(t *testing.T) {
	t.Parallel()
	col := exprCol("greeting", "Hello {{ name }}", frame.String, "name")
	g, err := Expression(col)
	require.NoError(t, err)
	require.Equal(t, "greeting", g.Name)
	require.Equal(t, frame.String, g.Type)
	require.Equal(t, []string{"name"}, g.Inputs)
	require.Equal(t, scheduler.FullColumn, g.Strategy())
	require.Nil(t, g.Cell)

	out, rowErrs := render(t, col, inFrame(t, 2, strCol("name", "Ada", "Linus")))
	require.Empty(t, rowErrs)
	require.Equal(t, []string{"Hello Ada", "Hello Linus"}, out.Strings)
	require.Nil(t, out.Valid)
}

// TestExpressionPythonRendering pins that values print as Python's Jinja prints them.
func TestExpressionPythonRendering(t *testing.T) {
	t.Parallel()
	in := inFrame(t, 1,
		intCol("i", 4), floatCol("f", 12.5), floatCol("whole", 3), floatCol("big", 1e16), floatCol("small", 1e-5),
		floatCol("sum", pointThree), boolCol("yes", true), boolCol("no", false), strCol("s", "abc"),
	)
	for expr, want := range map[string]string{
		"{{ i }}": "4", "{{ f }}": "12.5", "{{ whole }}": "3.0", "{{ big }}": "1e+16", "{{ small }}": "1e-05",
		"{{ sum }}": "0.30000000000000004", "{{ yes }}": "True", "{{ no }}": "False", "{{ s }}": "abc",
		"{{ i / 2 }}": "2.0", "{{ i // 3 }}": "1", "{{ whole * 2 }}": "6.0", "{{ i + f }}": "16.5",
		"{{ [i, f, s] }}": "[4, 12.5, 'abc']", "{{ yes and i > 3 }}": "True", "{{ f | int }}": "12",
		"{{ i | string }}": "4", "{{ whole ~ '!' }}": "3.0!",
	} {
		col := exprCol("x", expr, frame.String, "big", "f", "i", "no", "s", "small", "sum", "whole", "yes")
		out, rowErrs := render(t, col, in)
		require.Empty(t, rowErrs, expr)
		require.Equal(t, want, out.Strings[0], expr)
	}
}

func TestExpressionNull(t *testing.T) {
	t.Parallel()
	c := strCol("v", "x", "")
	c.SetNull(1)
	in := inFrame(t, 2, c)
	out, rowErrs := render(t, exprCol("x", "{% if v is none %}missing{% else %}{{ v }}{% endif %}", frame.String, "v"), in)
	require.Empty(t, rowErrs)
	require.Equal(t, []string{"x", "missing"}, out.Strings)
	// gonja prints None as empty text (Python prints "None"): such a row renders empty and drops.
	_, rowErrs = render(t, exprCol("x", "{{ v }}", frame.String, "v"), in)
	require.Len(t, rowErrs, 1)
	require.Contains(t, rowErrs, 1)
}

func TestCasts(t *testing.T) {
	t.Parallel()
	type want struct {
		v  any // nil: cast error
		ok bool
	}
	for text, w := range map[string][3]want{ // int, float, bool
		"4":                   {{int64(4), true}, {4.0, true}, {true, true}},
		"4.0":                 {{int64(4), true}, {4.0, true}, {true, true}},
		"4.7":                 {{int64(4), true}, {4.7, true}, {true, true}},
		"-4.7":                {{int64(-4), true}, {-4.7, true}, {true, true}},
		"+12":                 {{int64(12), true}, {12.0, true}, {true, true}},
		"1e3":                 {{int64(1000), true}, {1000.0, true}, {true, true}},
		"0":                   {{int64(0), true}, {0.0, true}, {false, true}},
		"0.0":                 {{int64(0), true}, {0.0, true}, {false, true}},
		"0.5":                 {{int64(0), true}, {0.5, true}, {false, true}},
		"true":                {{nil, false}, {nil, false}, {true, true}},
		"True":                {{nil, false}, {nil, false}, {true, true}},
		"TRUE":                {{nil, false}, {nil, false}, {true, true}},
		"False":               {{nil, false}, {nil, false}, {false, true}},
		"yes":                 {{nil, false}, {nil, false}, {false, true}},
		"abc":                 {{nil, false}, {nil, false}, {false, true}},
		"nan":                 {{nil, false}, {nil, true}, {false, true}},
		"inf":                 {{nil, false}, {nil, true}, {nil, false}},
		"1e400":               {{nil, false}, {nil, true}, {nil, false}},
		"1e19":                {{nil, false}, {1e19, true}, {true, true}},
		"9223372036854775807": {{int64(9223372036854775807), true}, {9223372036854775807.0, true}, {true, true}},
	} {
		i, err := castInt(text)
		require.Equal(t, w[0].ok, err == nil, "int %q", text)
		if w[0].v != nil {
			require.Equal(t, w[0].v, i, "int %q", text)
		}
		f, err := castFloat(text)
		require.Equal(t, w[1].ok, err == nil, "float %q", text)
		if w[1].v != nil {
			require.Equal(t, w[1].v, f, "float %q", text)
		}
		b, err := castBool(text)
		require.Equal(t, w[2].ok, err == nil, "bool %q", text)
		if w[2].v != nil {
			require.Equal(t, w[2].v, b, "bool %q", text)
		}
	}
	f, err := castFloat("1e400")
	require.NoError(t, err)
	require.True(t, math.IsInf(f, 1), "float('1e400') is inf in Python")

	// End to end: the rendered text is trimmed, then cast; failures drop the row.
	in := inFrame(t, 4, strCol("t", " 4.0 ", "abc", "-4.7", "\n7\n"))
	out, rowErrs := render(t, exprCol("x", "{{ t }}", frame.Int, "t"), in)
	require.Equal(t, []int{1}, slices.Collect(maps.Keys(rowErrs)))
	require.Equal(t, []any{int64(4), nil, int64(-4), int64(7)}, []any{out.Value(0), out.Value(1), out.Value(2), out.Value(3)})
	out, _ = render(t, exprCol("x", "{{ t }}", frame.String, "t"), in)
	require.Equal(t, []string{"4.0", "abc", "-4.7", "7"}, out.Strings)
	out, rowErrs = render(t, exprCol("x", "{{ t }}", frame.Bool, "t"), in)
	require.Empty(t, rowErrs)
	require.Equal(t, []bool{true, false, true, true}, out.Bools)
	out, rowErrs = render(t, exprCol("x", "{{ t }}", frame.Float, "t"), in)
	require.Len(t, rowErrs, 1)
	require.Equal(t, -4.7, out.Floats[2])
}

func TestExpressionConditionalsAndFilters(t *testing.T) {
	t.Parallel()
	in := inFrame(t, 3, intCol("age", 25, 40, 65), strCol("name", "ada", "bob", "cy"), floatCol("score", 2.5, 2.675, 3.14159))
	out, _ := render(t, exprCol("x", "{% if age < 30 %}young{% elif age < 60 %}adult{% else %}senior{% endif %}", frame.String, "age"), in)
	require.Equal(t, []string{"young", "adult", "senior"}, out.Strings)

	out, _ = render(t, exprCol("x", "{{ name | upper }}-{{ age }}", frame.String, "age", "name"), in)
	require.Equal(t, []string{"ADA-25", "BOB-40", "CY-65"}, out.Strings)

	// round is Python's: ties to even, exact binary value, ints stay ints.
	out, _ = render(t, exprCol("x", "{{ score | round }}|{{ score | round(2) }}|{{ age | round }}|{{ score | round(1, 'floor') }}|{{ score | round(method='ceil') }}", frame.String, "age", "score"), in)
	require.Equal(t, []string{"2.0|2.5|25|2.5|3.0", "3.0|2.67|40|2.6|3.0", "3.0|3.14|65|3.1|4.0"}, out.Strings)

	out, _ = render(t, exprCol("x", "{{ (age * 1.5) | round(1) }}", frame.Float, "age"), in)
	require.Equal(t, []float64{37.5, 60, 97.5}, out.Floats)

	out, _ = render(t, exprCol("x", "{{ age > 30 }}", frame.Bool, "age"), in)
	require.Equal(t, []bool{false, true, true}, out.Bools)

	out, _ = render(t, exprCol("x", "{{ age // 10 }}", frame.Int, "age"), in)
	require.Equal(t, []int64{2, 4, 6}, out.Ints)
}

func TestExpressionJSONInputs(t *testing.T) {
	t.Parallel()
	in := inFrame(t, 2,
		strCol("obj", `{"name": "Ada", "tags": ["x", "y"], "n": 2, "r": 0.5}`, `{"name": "Bob", "tags": [], "n": 3, "r": 1.0}`),
		strCol("s", "007", "12"),
	)
	out, rowErrs := render(t, exprCol("x", "{{ obj.name }}:{{ obj['n'] + 1 }}:{{ obj.tags | length }}:{{ obj.r }}:{{ s }}", frame.String, "obj", "s"), in)
	require.Empty(t, rowErrs)
	require.Equal(t, []string{"Ada:3:2:0.5:007", "Bob:4:0:1.0:12"}, out.Strings)

	require.Equal(t, int64(12), jinja.Value("12"))
	require.Equal(t, 1.5, jinja.Value(" 1.5 "))
	require.Equal(t, true, jinja.Value("true"))
	require.Nil(t, jinja.Value("null"))
	require.Equal(t, "quoted", jinja.Value(`"quoted"`))
	require.Equal(t, "1 2", jinja.Value("1 2"))
	require.Equal(t, "nothing", jinja.Value("nothing"))
	require.Equal(t, "[1,", jinja.Value("[1,"))
	require.Equal(t, []any{int64(1), "a"}, jinja.Value(`[1, "a"]`))
}

func TestExpressionSingleRowDrop(t *testing.T) {
	t.Parallel()
	in := inFrame(t, 4, strCol("v", "1", "2", "x", "4"))
	g, err := Expression(exprCol("num", "{{ v }}", frame.Int, "v"))
	require.NoError(t, err)
	out, rowErrs, err := g.Column(context.Background(), in, []int{0, 2, 3})
	require.NoError(t, err)
	require.Len(t, rowErrs, 1)
	require.ErrorContains(t, rowErrs[2], `column "num"`)
	require.ErrorContains(t, rowErrs[2], "row 2")
	require.ErrorContains(t, rowErrs[2], `"x"`)
	require.Equal(t, int64(1), out.Value(0))
	require.Nil(t, out.Value(1), "rows not listed are null")
	require.Nil(t, out.Value(2), "failed rows are null")
	require.Equal(t, int64(4), out.Value(3))
}

func TestExpressionAllRowsFailIsFatal(t *testing.T) {
	t.Parallel()
	in := inFrame(t, 3, strCol("v", "a", "b", "c"))
	for _, col := range []*config.Column{
		exprCol("num", "{{ v }}", frame.Int, "v"),                   // cast fails
		exprCol("num", "{{ v | round }}", frame.Int, "v"),           // render fails
		exprCol("num", "{% if false %}x{% endif %}", frame.String),  // renders empty
		exprCol("num", "{{ v | nosuchfilter }}", frame.String, "v"), // unknown filters fail at render
	} {
		g, err := Expression(col)
		require.NoError(t, err)
		out, rowErrs, err := g.Column(context.Background(), in, []int{1, 2})
		var fatal *scheduler.FatalError
		require.ErrorAs(t, err, &fatal, col.Expr)
		require.ErrorContains(t, err, `column "num"`)
		require.ErrorContains(t, err, "row 1", "the first row's error")
		require.Nil(t, out)
		require.Nil(t, rowErrs)
	}

	// No rows listed: nothing failed.
	g, err := Expression(exprCol("num", "{{ v }}", frame.Int, "v"))
	require.NoError(t, err)
	out, rowErrs, err := g.Column(context.Background(), in, nil)
	require.NoError(t, err)
	require.Empty(t, rowErrs)
	require.Equal(t, 3, out.Len())
}

func TestExpressionCancel(t *testing.T) {
	t.Parallel()
	g, err := Expression(exprCol("x", "{{ v }}", frame.String, "v"))
	require.NoError(t, err)
	in := inFrame(t, 1000, strCol("v", make([]string, 1000)...))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = g.Column(ctx, in, allRows(1000))
	require.ErrorIs(t, err, context.Canceled)
}

func TestExpressionCompileErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"{{ x ",
		"{% if x %}unclosed",
	} {
		_, err := Expression(exprCol("bad", expr, frame.String, "x"))
		require.ErrorContains(t, err, `column "bad"`, expr)
	}
	// Templates cannot read files: loading another template fails at compile or render time.
	for _, expr := range []string{
		`{% include "/etc/passwd" %}`,
		`{% extends "/etc/passwd" %}`,
		`{% import "/etc/passwd" as m %}x`,
		`{% from "/etc/passwd" import m %}x`,
		`{% if x %}{% include "/etc/hostname" %}{% endif %}`,
	} {
		g, err := Expression(exprCol("bad", expr, frame.String, "x"))
		if err != nil {
			require.ErrorContains(t, err, `column "bad"`, expr)
			continue
		}
		_, _, err = g.Column(context.Background(), inFrame(t, 1, strCol("x", "y")), []int{0})
		var fatal *scheduler.FatalError
		require.ErrorAs(t, err, &fatal, expr)
		require.ErrorContains(t, err, "cannot load other templates", expr)
	}
	_, err := Expression(nil)
	require.Error(t, err)
}

func TestExpressionMissingInput(t *testing.T) {
	t.Parallel()
	g, err := Expression(exprCol("x", "{{ v }}", frame.String, "v"))
	require.NoError(t, err)
	_, _, err = g.Column(context.Background(), inFrame(t, 1, strCol("w", "a")), []int{0})
	var fatal *scheduler.FatalError
	require.ErrorAs(t, err, &fatal)
	require.ErrorContains(t, err, `"v"`)

	_, _, err = g.Column(context.Background(), inFrame(t, 1, strCol("v", "a")), []int{1})
	require.Error(t, err)
}

func TestExpressionConcurrent(t *testing.T) {
	t.Parallel()
	g, err := Expression(exprCol("x", "{% if n % 2 == 0 %}{{ n * 2 }}{% else %}{{ n }}{% endif %}", frame.Int, "n"))
	require.NoError(t, err)
	const n = 300
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = int64(i)
	}
	in := inFrame(t, n, intCol("n", vals...))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, rowErrs, err := g.Column(context.Background(), in, allRows(n))
			if err == nil && len(rowErrs) > 0 {
				err = fmt.Errorf("row errors: %v", rowErrs)
			}
			for i := 0; err == nil && i < n; i++ {
				want := int64(i)
				if i%2 == 0 {
					want *= 2
				}
				if out.Ints[i] != want {
					err = fmt.Errorf("row %d: got %d want %d", i, out.Ints[i], want)
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestExpressionDisablesGonjaLogging(t *testing.T) {
	t.Parallel()
	_, err := Expression(exprCol("x", "{{ 1 }}", frame.Int))
	require.NoError(t, err)
	require.False(t, logging.Enabled())
}
