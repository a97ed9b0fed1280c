package frame_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// checkedAlloc returns an allocator that fails the test if anything it handed out is still held
// when the test ends. Register it before anything that releases Arrow memory in a t.Cleanup, so
// that it runs last.
func checkedAlloc(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// mixedFrame builds a frame with one column of each type, every one holding at least one null
// (so FromRecord rebuilds a Valid slice for each). A null cell keeps whatever value it held
// before, to check that the round trip carries the value slots through unchanged.
func mixedFrame(t *testing.T) *frame.Frame {
	t.Helper()
	f := frame.New(4)
	require.NoError(t, f.Put(column(t, "s", frame.String, "a", nil, "", "ünï\ncode")))
	require.NoError(t, f.Put(column(t, "i", frame.Int, int64(-1), 0, nil, int64(1)<<62)))
	require.NoError(t, f.Put(column(t, "f", frame.Float, nil, 0.5, -3, 1e300)))
	require.NoError(t, f.Put(column(t, "b", frame.Bool, true, false, nil, true)))
	f.Column("s").SetNull(3) // a null over a non-zero value
	return f
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) *frame.Frame
	}{
		{name: "all types with nulls", build: mixedFrame},
		{
			name: "no nulls",
			build: func(t *testing.T) *frame.Frame {
				f := frame.New(3)
				require.NoError(t, f.Put(column(t, "b", frame.Bool, true, false, true)))
				require.NoError(t, f.Put(column(t, "s", frame.String, "x", "y", "z")))
				require.NoError(t, f.Put(column(t, "i", frame.Int, 1, 2, 3)))
				require.NoError(t, f.Put(column(t, "f", frame.Float, 1.5, 2.5, 3.5)))
				return f
			},
		},
		{
			name: "all null",
			build: func(t *testing.T) *frame.Frame {
				f := frame.New(2)
				for _, typ := range []frame.Type{frame.String, frame.Int, frame.Float, frame.Bool} {
					require.NoError(t, f.Put(column(t, typ.String(), typ, nil, nil)))
				}
				return f
			},
		},
		{
			name: "zero rows",
			build: func(t *testing.T) *frame.Frame {
				f := frame.New(0)
				for _, typ := range []frame.Type{frame.String, frame.Int, frame.Float, frame.Bool} {
					require.NoError(t, f.Put(frame.NewColumn(typ.String(), typ, 0)))
				}
				return f
			},
		},
		{
			name: "bools past one bitmap byte",
			build: func(t *testing.T) *frame.Frame {
				cells := make([]any, 19)
				for i := range cells {
					cells[i] = i%3 == 0
				}
				cells[9] = nil
				f := frame.New(len(cells))
				require.NoError(t, f.Put(column(t, "b", frame.Bool, cells...)))
				return f
			},
		},
		{
			name:  "zero columns",
			build: func(*testing.T) *frame.Frame { return frame.New(7) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			want := tc.build(t)

			rec := want.ToRecord(mem)
			require.Equal(t, int64(want.Len()), rec.NumRows())
			require.Equal(t, int64(len(want.Columns())), rec.NumCols())
			for i, c := range want.Columns() {
				field := rec.Schema().Field(i)
				require.Equal(t, c.Name, field.Name)
				require.True(t, field.Nullable, "every field is nullable")
				nulls := 0
				for j := range c.Len() {
					if c.IsNull(j) {
						nulls++
					}
				}
				require.Equal(t, nulls, rec.Column(i).NullN(), "column %q", c.Name)
			}

			got, err := frame.FromRecord(rec)
			rec.Release() // FromRecord copies: the frame must not depend on the record
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// scribbleAllocator overwrites memory when it is freed, as malloc or a pooling allocator may
// reuse it: anything still pointing into a released record then reads garbage.
type scribbleAllocator struct{ memory.Allocator }

func (a scribbleAllocator) Free(b []byte) {
	for i := range b {
		b[i] = '#'
	}
	a.Allocator.Free(b)
}

func TestFromRecordOwnsItsStrings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		slice bool
	}{
		{name: "whole record"},
		{name: "sliced record", slice: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(scribbleAllocator{memory.NewGoAllocator()})
			t.Cleanup(func() { mem.AssertSize(t, 0) })

			want := frame.New(3)
			require.NoError(t, want.Put(column(t, "s", frame.String, "alpha", nil, "gamma")))
			rec := want.ToRecord(mem)
			if tc.slice {
				sl := rec.NewSlice(1, 3)
				rec.Release()
				rec = sl
				want = want.Filter([]bool{false, true, true})
			}

			got, err := frame.FromRecord(rec)
			require.NoError(t, err)
			rec.Release() // scribbles over the record's buffers

			requireSameCells(t, want, got)
		})
	}
}

func TestToRecordArrowTypes(t *testing.T) {
	t.Parallel()
	mem := checkedAlloc(t)
	rec := mixedFrame(t).ToRecord(mem)
	defer rec.Release()

	want := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	require.True(t, want.Equal(rec.Schema()), "got schema %s", rec.Schema())

	s := rec.Column(0).(*array.String)
	require.Equal(t, "a", s.Value(0))
	require.True(t, s.IsNull(1))
	require.True(t, s.IsNull(3))
	require.Equal(t, []int64{-1, 0}, rec.Column(1).(*array.Int64).Int64Values()[:2])
	require.Equal(t, 0.5, rec.Column(2).(*array.Float64).Value(1))
	require.True(t, rec.Column(3).(*array.Boolean).Value(0))
}

func TestToRecordNilAllocator(t *testing.T) {
	t.Parallel()
	want := mixedFrame(t)
	rec := want.ToRecord(nil) // falls back to memory.DefaultAllocator
	defer rec.Release()
	got, err := frame.FromRecord(rec)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestFromRecordSlice(t *testing.T) {
	t.Parallel()
	mem := checkedAlloc(t)
	full := mixedFrame(t)
	rec := full.ToRecord(mem)
	defer rec.Release()

	// A sliced record has non-zero array offsets; FromRecord must honour them.
	sl := rec.NewSlice(1, 4)
	defer sl.Release()
	got, err := frame.FromRecord(sl)
	require.NoError(t, err)

	requireSameCells(t, full.Filter([]bool{false, true, true, true}), got)
}

// requireSameCells checks that two frames hold the same columns, types and cells, ignoring how
// validity is represented (a nil Valid and an all-true one both mean "no nulls").
func requireSameCells(t *testing.T, want, got *frame.Frame) {
	t.Helper()
	require.Equal(t, want.Len(), got.Len())
	require.Len(t, got.Columns(), len(want.Columns()))
	for i, w := range want.Columns() {
		g := got.Columns()[i]
		require.Equal(t, w.Name, g.Name)
		require.Equal(t, w.Type, g.Type, "column %q", w.Name)
		require.Equal(t, values(w), values(g), "column %q", w.Name)
	}
}

func TestFromRecordUnsupportedType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		field   arrow.Field
		build   func(mem memory.Allocator) arrow.Array
		wantErr string
	}{
		{
			name:  "int32",
			field: arrow.Field{Name: "n32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			build: func(mem memory.Allocator) arrow.Array {
				b := array.NewInt32Builder(mem)
				defer b.Release()
				b.AppendValues([]int32{1, 2}, nil)
				return b.NewArray()
			},
			wantErr: `column "n32": unsupported arrow type int32`,
		},
		{
			name:  "large string",
			field: arrow.Field{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
			build: func(mem memory.Allocator) arrow.Array {
				b := array.NewLargeStringBuilder(mem)
				defer b.Release()
				b.AppendValues([]string{"a", "b"}, nil)
				return b.NewArray()
			},
			wantErr: `column "ls": unsupported arrow type large_utf8`,
		},
		{
			name:  "float32",
			field: arrow.Field{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
			build: func(mem memory.Allocator) arrow.Array {
				b := array.NewFloat32Builder(mem)
				defer b.Release()
				b.AppendValues([]float32{1, 2}, nil)
				return b.NewArray()
			},
			wantErr: `column "f32": unsupported arrow type float32`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)

			// A supported column first, so the error must come from the second one.
			good := array.NewInt64Builder(mem)
			defer good.Release()
			good.AppendValues([]int64{1, 2}, nil)
			goodArr := good.NewArray()
			defer goodArr.Release()
			badArr := tc.build(mem)
			defer badArr.Release()

			schema := arrow.NewSchema([]arrow.Field{
				{Name: "ok", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
				tc.field,
			}, nil)
			rec := array.NewRecordBatch(schema, []arrow.Array{goodArr, badArr}, 2)
			defer rec.Release()

			f, err := frame.FromRecord(rec)
			require.EqualError(t, err, tc.wantErr)
			require.Nil(t, f)
		})
	}
}

// benchFrame is n rows and 8 columns, two of each type, with every seventh cell null.
func benchFrame(b *testing.B, n int) *frame.Frame {
	b.Helper()
	f := frame.New(n)
	for k := range 2 {
		for _, typ := range []frame.Type{frame.String, frame.Int, frame.Float, frame.Bool} {
			c := frame.NewColumn(fmt.Sprintf("%s%d", typ, k), typ, n)
			for i := range n {
				var v any
				switch typ {
				case frame.String:
					v = fmt.Sprintf("row %d of a generated column", i)
				case frame.Int:
					v = i * 31
				case frame.Float:
					v = float64(i) / 7
				case frame.Bool:
					v = i%2 == 0
				}
				require.NoError(b, c.Set(i, v))
				if (i+k)%7 == 0 {
					c.SetNull(i)
				}
			}
			require.NoError(b, f.Put(c))
		}
	}
	return f
}

func BenchmarkToRecord(b *testing.B) {
	f := benchFrame(b, 10_000)
	mem := memory.NewGoAllocator()
	b.ReportAllocs()
	for b.Loop() {
		rec := f.ToRecord(mem)
		rec.Release()
	}
}

func BenchmarkFromRecord(b *testing.B) {
	rec := benchFrame(b, 10_000).ToRecord(memory.NewGoAllocator())
	defer rec.Release()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := frame.FromRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}
