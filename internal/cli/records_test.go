package cli_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/pkg/frame"
)

// col is a column spec for records: a nil cell is a null.
type col struct {
	name  string
	typ   frame.Type
	cells []any
}

// records turns each group of columns into one Arrow record, allocated from a checked allocator
// that fails the test if the records (or anything the renderers allocate) are not released.
func records(t *testing.T, groups ...[]col) []arrow.RecordBatch {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	recs := make([]arrow.RecordBatch, 0, len(groups))
	for _, cols := range groups {
		n := 0
		if len(cols) > 0 {
			n = len(cols[0].cells)
		}
		f := frame.New(n)
		for _, c := range cols {
			fc := frame.NewColumn(c.name, c.typ, n)
			for i, v := range c.cells {
				require.NoError(t, fc.Set(i, v))
			}
			require.NoError(t, f.Put(fc))
		}
		rec := f.ToRecord(mem)
		t.Cleanup(rec.Release) // runs before the AssertSize registered above
		recs = append(recs, rec)
	}
	return recs
}

func TestWriteJSONLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		groups [][]col
		want   string // exact output: key order is part of the contract
	}{
		{
			name: "column order, not alphabetical, and nulls",
			groups: [][]col{{
				{"z", frame.Int, []any{1, nil}},
				{"a", frame.String, []any{"x", nil}},
				{"m", frame.Float, []any{nil, 2.5}},
				{"b", frame.Bool, []any{true, nil}},
			}},
			want: `{"z":1,"a":"x","m":null,"b":true}` + "\n" +
				`{"z":null,"a":null,"m":2.5,"b":null}` + "\n",
		},
		{
			name: "values that need escaping",
			groups: [][]col{{
				{`q"k`, frame.String, []any{"line1\nline2\t\"quoted\" \\ é"}},
				{"big", frame.Int, []any{int64(1) << 62}},
				{"whole", frame.Float, []any{2.0}},
			}},
			want: `{"q\"k":"line1\nline2\t\"quoted\" \\ é","big":4611686018427387904,"whole":2}` + "\n",
		},
		{
			name: "several records",
			groups: [][]col{
				{{"id", frame.Int, []any{1, 2}}},
				{{"id", frame.Int, []any{}}},
				{{"id", frame.Int, []any{3}}},
			},
			want: `{"id":1}` + "\n" + `{"id":2}` + "\n" + `{"id":3}` + "\n",
		},
		{
			name:   "empty record",
			groups: [][]col{{}},
			want:   "",
		},
		{name: "no records", groups: nil, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			require.NoError(t, cli.WriteJSONLines(&out, records(t, tc.groups...)))
			require.Equal(t, tc.want, out.String())

			// Every line is one valid JSON object.
			for line := range strings.Lines(out.String()) {
				var obj map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &obj), "line %q", line)
			}
		})
	}
}

func TestWriteJSONLinesErrors(t *testing.T) {
	t.Parallel()

	t.Run("non-finite float names the column", func(t *testing.T) {
		t.Parallel()
		recs := records(t, []col{
			{"ok", frame.Int, []any{1}},
			{"ratio", frame.Float, []any{math.NaN()}},
		})
		var out strings.Builder
		err := cli.WriteJSONLines(&out, recs)
		require.ErrorContains(t, err, `column "ratio"`)
		require.Empty(t, out.String(), "no half-written line")
	})

	t.Run("unsupported arrow type", func(t *testing.T) {
		t.Parallel()
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		b := array.NewInt32Builder(mem)
		defer b.Release()
		b.Append(1)
		arr := b.NewArray()
		defer arr.Release()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int32}}, nil),
			[]arrow.Array{arr}, 1)
		defer rec.Release()

		require.ErrorContains(t, cli.WriteJSONLines(&strings.Builder{}, []arrow.RecordBatch{rec}), `column "n"`)
		require.ErrorContains(t, cli.WriteTable(&strings.Builder{}, []arrow.RecordBatch{rec}, 10), `column "n"`)
	})

	t.Run("writer error", func(t *testing.T) {
		t.Parallel()
		recs := records(t, []col{{"id", frame.Int, []any{1, 2}}})
		err := cli.WriteJSONLines(failWriter{}, recs)
		require.ErrorIs(t, err, errWrite)
	})
}

var errWrite = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		groups  [][]col
		maxCell int
		want    string
	}{
		{
			name: "header and one line per row, aligned",
			groups: [][]col{{
				{"id", frame.Int, []any{1, 22, nil}},
				{"name", frame.String, []any{"ab", nil, "c"}},
				{"ok", frame.Bool, []any{true, false, nil}},
				{"score", frame.Float, []any{2.5, 10.0, nil}},
			}},
			maxCell: 40,
			want: "" +
				"id    name  ok     score\n" +
				"1     ab    true   2.5\n" +
				"22    null  false  10\n" +
				"null  c     null   null\n",
		},
		{
			name: "long cells are cut with an ellipsis",
			groups: [][]col{{
				{"s", frame.String, []any{"abcdefgh", "abcde", "abcdef", "héllo wörld"}},
			}},
			maxCell: 5,
			want: "" +
				"s\n" +
				"abcd…\n" + // 8 runes → 4 + "…"
				"abcde\n" + // exactly max: not cut
				"abcd…\n" +
				"héll…\n", // cut counts runes, not bytes
		},
		{
			name: "newlines and tabs collapse to single spaces",
			groups: [][]col{{
				{"a", frame.String, []any{"x\ny", "  p\t\tq \r\n r  ", "a\n\n\n\n\n\nb"}},
				{"b", frame.Int, []any{1, 2, 3}},
			}},
			maxCell: 5, // collapse happens before the cut: the 8-rune "a\n…\nb" becomes "a b" and fits
			want: "" +
				"a      b\n" +
				"x y    1\n" +
				"p q r  2\n" +
				"a b    3\n",
		},
		{
			name: "several records: header once, one alignment",
			groups: [][]col{
				{{"k", frame.String, []any{"a"}}, {"v", frame.Int, []any{1}}},
				{{"k", frame.String, []any{}}, {"v", frame.Int, []any{}}},
				{{"k", frame.String, []any{"longer", "b"}}, {"v", frame.Int, []any{2, 3}}},
			},
			maxCell: 40,
			want: "" +
				"k       v\n" +
				"a       1\n" +
				"longer  2\n" +
				"b       3\n",
		},
		{
			name:    "a zero-row record still prints the header",
			groups:  [][]col{{{"only", frame.Bool, []any{}}}},
			maxCell: 40,
			want:    "only\n",
		},
		{name: "no records", groups: nil, maxCell: 40, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			require.NoError(t, cli.WriteTable(&out, records(t, tc.groups...), tc.maxCell))
			require.Equal(t, tc.want, out.String())
		})
	}
}
