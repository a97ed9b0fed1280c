package frame_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// values reads every cell of c through Value.
func values(c *frame.Column) []any {
	out := make([]any, c.Len())
	for i := range out {
		out[i] = c.Value(i)
	}
	return out
}

// column builds a column from cells; a nil cell becomes a null.
func column(t *testing.T, name string, typ frame.Type, cells ...any) *frame.Column {
	t.Helper()
	c := frame.NewColumn(name, typ, len(cells))
	for i, v := range cells {
		require.NoError(t, c.Set(i, v))
	}
	return c
}

func TestNewColumnLen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ  frame.Type
		zero any
	}{
		{frame.String, ""},
		{frame.Int, int64(0)},
		{frame.Float, float64(0)},
		{frame.Bool, false},
	} {
		for _, n := range []int{0, 1, 5} {
			t.Run(fmt.Sprintf("%s/%d", tc.typ, n), func(t *testing.T) {
				t.Parallel()
				c := frame.NewColumn("c", tc.typ, n)
				require.Equal(t, "c", c.Name)
				require.Equal(t, tc.typ, c.Type)
				require.Equal(t, n, c.Len())
				require.Nil(t, c.Valid, "a new column has no validity slice")
				for i := range n {
					require.False(t, c.IsNull(i))
					require.Equal(t, tc.zero, c.Value(i))
				}
			})
		}
	}
}

func TestColumnSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		typ     frame.Type
		in      any
		want    any    // Value after a successful Set
		wantErr string // substring of the error; the cell must be left unchanged
	}{
		{name: "str", typ: frame.String, in: "hello", want: "hello"},
		{name: "str empty", typ: frame.String, in: "", want: ""},
		{name: "int int64", typ: frame.Int, in: int64(-7), want: int64(-7)},
		{name: "int int", typ: frame.Int, in: 42, want: int64(42)},
		{name: "float float64", typ: frame.Float, in: 1.5, want: 1.5},
		{name: "float int64", typ: frame.Float, in: int64(3), want: float64(3)},
		{name: "float int", typ: frame.Float, in: -2, want: float64(-2)},
		{name: "bool", typ: frame.Bool, in: true, want: true},

		{name: "str from int", typ: frame.String, in: 1, wantErr: `column "c": want str, got int`},
		{name: "str from bytes", typ: frame.String, in: []byte("x"), wantErr: `column "c": want str, got []uint8`},
		{name: "int from float", typ: frame.Int, in: 1.0, wantErr: `column "c": want int, got float64`},
		{name: "int from string", typ: frame.Int, in: "1", wantErr: `column "c": want int, got string`},
		{name: "int from bool", typ: frame.Int, in: true, wantErr: `column "c": want int, got bool`},
		{name: "float from string", typ: frame.Float, in: "1.5", wantErr: `column "c": want float, got string`},
		{name: "float from bool", typ: frame.Float, in: false, wantErr: `column "c": want float, got bool`},
		{name: "bool from int", typ: frame.Bool, in: 1, wantErr: `column "c": want bool, got int`},
		{name: "bool from string", typ: frame.Bool, in: "true", wantErr: `column "c": want bool, got string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := frame.NewColumn("c", tc.typ, 2)
			before := c.Value(1)
			err := c.Set(1, tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Equal(t, before, c.Value(1), "a rejected Set must not change the cell")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Value(1))
			require.Equal(t, before, c.Value(0), "Set must touch only its row")
			require.False(t, c.IsNull(1))
		})
	}
}

func TestColumnSetNull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ    frame.Type
		v0, v1 any
	}{
		{frame.String, "a", "b"},
		{frame.Int, int64(1), int64(2)},
		{frame.Float, 1.5, 2.5},
		{frame.Bool, true, false},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			t.Parallel()
			c := column(t, "c", tc.typ, tc.v0, tc.v1, tc.v0)

			c.SetNull(1)
			require.True(t, c.IsNull(1))
			require.Nil(t, c.Value(1))
			require.Equal(t, []any{tc.v0, nil, tc.v0}, values(c), "other rows stay valid")
			require.Equal(t, 3, c.Len(), "SetNull must not change the length")

			require.NoError(t, c.Set(1, tc.v1))
			require.False(t, c.IsNull(1), "Set after SetNull makes the row valid again")
			require.Equal(t, []any{tc.v0, tc.v1, tc.v0}, values(c))

			require.NoError(t, c.Set(2, nil), "Set(nil) is SetNull")
			require.True(t, c.IsNull(2))
			require.Equal(t, []any{tc.v0, tc.v1, nil}, values(c))

			err := c.Set(2, struct{}{})
			require.ErrorContains(t, err, `column "c"`)
			require.True(t, c.IsNull(2), "a rejected Set must not make a null row valid")
		})
	}
}

func TestColumnFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		typ   frame.Type
		cells []any
		keep  []bool
		want  []any
	}{
		{
			name:  "str with nulls",
			typ:   frame.String,
			cells: []any{"a", nil, "c", "d"},
			keep:  []bool{true, true, false, true},
			want:  []any{"a", nil, "d"},
		},
		{
			name:  "int with nulls",
			typ:   frame.Int,
			cells: []any{1, 2, nil, 4},
			keep:  []bool{false, true, true, true},
			want:  []any{int64(2), nil, int64(4)},
		},
		{
			name:  "float no nulls",
			typ:   frame.Float,
			cells: []any{1.0, 2.0, 3.0},
			keep:  []bool{true, false, true},
			want:  []any{1.0, 3.0},
		},
		{
			name:  "bool with nulls",
			typ:   frame.Bool,
			cells: []any{true, nil, false, nil},
			keep:  []bool{false, true, true, false},
			want:  []any{nil, false},
		},
		{
			name:  "keep all",
			typ:   frame.Int,
			cells: []any{1, nil, 3},
			keep:  []bool{true, true, true},
			want:  []any{int64(1), nil, int64(3)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := column(t, "c", tc.typ, tc.cells...)
			before := values(c)
			got := c.Filter(tc.keep)
			require.Equal(t, "c", got.Name)
			require.Equal(t, tc.typ, got.Type)
			require.Equal(t, len(tc.want), got.Len())
			require.Equal(t, tc.want, values(got))
			require.Equal(t, before, values(c), "the source column is unchanged")
		})
	}

	// Keeping nothing gives an empty column that still has its name and type.
	for _, typ := range []frame.Type{frame.String, frame.Int, frame.Float, frame.Bool} {
		t.Run("none kept "+typ.String(), func(t *testing.T) {
			t.Parallel()
			c := frame.NewColumn("c", typ, 3)
			c.SetNull(1)
			got := c.Filter([]bool{false, false, false})
			require.Equal(t, frame.NewColumn("c", typ, 0), got)
			require.Zero(t, got.Len())

			require.Equal(t, frame.NewColumn("c", typ, 0), c.Filter(nil), "a nil keep keeps nothing")
		})
	}
}

func TestColumnFilterCopies(t *testing.T) {
	t.Parallel()
	c := column(t, "c", frame.Int, 1, 2, 3)
	got := c.Filter([]bool{true, true, true})
	require.NoError(t, got.Set(0, 100))
	got.SetNull(1)
	require.Equal(t, []any{int64(1), int64(2), int64(3)}, values(c), "Filter returns a copy")
}

func TestFramePut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		n       int
		col     *frame.Column
		wantErr string
	}{
		{name: "same length", n: 3, col: frame.NewColumn("a", frame.Int, 3)},
		{name: "zero rows", n: 0, col: frame.NewColumn("a", frame.Bool, 0)},
		{name: "too short", n: 3, col: frame.NewColumn("a", frame.Int, 2), wantErr: `column "a" has 2 rows, frame has 3`},
		{name: "too long", n: 1, col: frame.NewColumn("s", frame.String, 4), wantErr: `column "s" has 4 rows, frame has 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := frame.New(tc.n)
			err := f.Put(tc.col)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Empty(t, f.Columns())
				require.Nil(t, f.Column(tc.col.Name))
				return
			}
			require.NoError(t, err)
			require.Same(t, tc.col, f.Column(tc.col.Name))
			require.Equal(t, tc.n, f.Len())
		})
	}
}

func TestFramePutReplacesInPlace(t *testing.T) {
	t.Parallel()
	f := frame.New(2)
	a := frame.NewColumn("a", frame.Int, 2)
	b := frame.NewColumn("b", frame.String, 2)
	c := frame.NewColumn("c", frame.Bool, 2)
	for _, col := range []*frame.Column{a, b, c} {
		require.NoError(t, f.Put(col))
	}

	b2 := frame.NewColumn("b", frame.Float, 2) // a replacement may change the type
	require.NoError(t, f.Put(b2))
	require.Equal(t, []*frame.Column{a, b2, c}, f.Columns(), "order kept, b replaced")
	require.Same(t, b2, f.Column("b"))

	require.Error(t, f.Put(frame.NewColumn("b", frame.Int, 3)))
	require.Same(t, b2, f.Column("b"), "a rejected replacement leaves the old column")
	require.Len(t, f.Columns(), 3)
}

func TestFrameSelect(t *testing.T) {
	t.Parallel()
	f := frame.New(2)
	a := column(t, "a", frame.Int, 1, 2)
	b := column(t, "b", frame.String, "x", nil)
	c := column(t, "c", frame.Bool, true, false)
	for _, col := range []*frame.Column{a, b, c} {
		require.NoError(t, f.Put(col))
	}

	for _, tc := range []struct {
		name  string
		names []string
		want  []*frame.Column
	}{
		{name: "reordered", names: []string{"c", "a"}, want: []*frame.Column{c, a}},
		{name: "unknown skipped", names: []string{"zz", "b", "nope"}, want: []*frame.Column{b}},
		{name: "all", names: []string{"a", "b", "c"}, want: []*frame.Column{a, b, c}},
		{name: "duplicate once", names: []string{"a", "a"}, want: []*frame.Column{a}},
		{name: "none", names: nil, want: nil},
		{name: "only unknown", names: []string{"x"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := f.Select(tc.names)
			require.Equal(t, 2, got.Len(), "Select keeps the row count")
			require.Len(t, got.Columns(), len(tc.want))
			for i, w := range tc.want {
				require.Same(t, w, got.Columns()[i], "columns are shared, not copied")
				require.Same(t, w, got.Column(w.Name))
			}
		})
	}

	// Sharing is visible both ways.
	sel := f.Select([]string{"a"})
	require.NoError(t, sel.Column("a").Set(0, 99))
	require.Equal(t, int64(99), f.Column("a").Value(0))
}

func TestFrameRow(t *testing.T) {
	t.Parallel()
	f := frame.New(2)
	require.NoError(t, f.Put(column(t, "s", frame.String, "x", nil)))
	require.NoError(t, f.Put(column(t, "i", frame.Int, 1, 2)))
	require.NoError(t, f.Put(column(t, "f", frame.Float, nil, 2.5)))
	require.NoError(t, f.Put(column(t, "b", frame.Bool, true, false)))

	require.Equal(t, map[string]any{"s": "x", "i": int64(1), "f": nil, "b": true}, f.Row(0))
	require.Equal(t, map[string]any{"s": nil, "i": int64(2), "f": 2.5, "b": false}, f.Row(1))
	require.Equal(t, map[string]any{}, frame.New(3).Row(0), "a frame without columns gives an empty row")
}

func TestFrameFilter(t *testing.T) {
	t.Parallel()
	f := frame.New(4)
	require.NoError(t, f.Put(column(t, "s", frame.String, "a", "b", nil, "d")))
	require.NoError(t, f.Put(column(t, "i", frame.Int, 1, nil, 3, 4)))

	for _, tc := range []struct {
		name  string
		keep  []bool
		wantS []any
		wantI []any
	}{
		{name: "some", keep: []bool{false, true, true, false}, wantS: []any{"b", nil}, wantI: []any{nil, int64(3)}},
		{name: "all", keep: []bool{true, true, true, true}, wantS: []any{"a", "b", nil, "d"}, wantI: []any{int64(1), nil, int64(3), int64(4)}},
		{name: "none", keep: []bool{false, false, false, false}, wantS: []any{}, wantI: []any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := f.Filter(tc.keep)
			require.Equal(t, len(tc.wantS), got.Len())
			require.Len(t, got.Columns(), 2)
			require.Equal(t, "s", got.Columns()[0].Name, "column order kept")
			require.Equal(t, tc.wantS, values(got.Column("s")))
			require.Equal(t, tc.wantI, values(got.Column("i")))
			require.Equal(t, frame.Int, got.Column("i").Type)
		})
	}
}

func TestParseType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    frame.Type
		wantErr bool
	}{
		{in: "int", want: frame.Int},
		{in: "float", want: frame.Float},
		{in: "str", want: frame.String},
		{in: "string", want: frame.String},
		{in: "", want: frame.String},
		{in: "bool", want: frame.Bool},
		{in: "Int", wantErr: true},
		{in: "integer", wantErr: true},
		{in: "int64", wantErr: true},
		{in: "double", wantErr: true},
		{in: "boolean", wantErr: true},
		{in: " int", wantErr: true},
		{in: "list", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := frame.ParseType(tc.in)
			if tc.wantErr {
				require.ErrorContains(t, err, "unknown dtype")
				require.ErrorContains(t, err, `"`+tc.in+`"`, "the error quotes the input")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ  frame.Type
		want string
	}{
		{frame.String, "str"},
		{frame.Int, "int"},
		{frame.Float, "float"},
		{frame.Bool, "bool"},
		{frame.Type(9), "type(9)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.typ.String())
			if tc.typ <= frame.Bool {
				got, err := frame.ParseType(tc.want)
				require.NoError(t, err)
				require.Equal(t, tc.typ, got, "String and ParseType round-trip")
			}
		})
	}
}
