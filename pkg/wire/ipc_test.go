package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// testFrame returns a frame of n rows with one column of each type; every column but "b" has
// nulls.
func testFrame(t testing.TB, n int) *frame.Frame {
	t.Helper()
	f := frame.New(n)
	s := frame.NewColumn("s", frame.String, n)
	i := frame.NewColumn("i", frame.Int, n)
	x := frame.NewColumn("x", frame.Float, n)
	b := frame.NewColumn("b", frame.Bool, n)
	v := frame.NewColumn("v", frame.Vector, n)
	for r := range n {
		s.Strings[r] = fmt.Sprintf("row %d ünïcode", r)
		i.Ints[r] = int64(r*r) - 7
		x.Floats[r] = float64(r) / 3
		b.Bools[r] = r%3 == 0
		v.Vectors[r] = make([]float32, r%4) // empty vectors too
		for j := range v.Vectors[r] {
			v.Vectors[r][j] = float32(r) - float32(j)/2
		}
	}
	if n > 0 {
		s.SetNull(0)
		x.SetNull(n - 1)
		i.SetNull(n / 2)
		i.Ints[n-1] = math.MinInt64
	}
	if n > 2 {
		v.SetNull(n / 3)
	}
	for _, c := range []*frame.Column{s, i, x, b, v} {
		require.NoError(t, f.Put(c))
	}
	return f
}

// encodeFrame writes f as an LZ4-compressed stream: EncodeRecord writes uncompressed bodies, but
// DecodeRecord accepts LZ4 too, and the compressed path is where forged sizes could allocate.
func encodeFrame(t testing.TB, f *frame.Frame) []byte {
	t.Helper()
	rec := f.ToRecord(nil)
	defer rec.Release()
	return writeStream(t, rec, ipc.WithLZ4())
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(t *testing.T) *frame.Frame
	}{
		{"four types with nulls", func(t *testing.T) *frame.Frame { return testFrame(t, 10) }},
		{"one row", func(t *testing.T) *frame.Frame { return testFrame(t, 1) }},
		{"zero rows", func(t *testing.T) *frame.Frame { return testFrame(t, 0) }},
		{"all null", func(t *testing.T) *frame.Frame {
			f := frame.New(3)
			c := frame.NewColumn("s", frame.String, 3)
			for r := range 3 {
				c.SetNull(r)
			}
			require.NoError(t, f.Put(c))
			return f
		}},
		{"zero columns", func(t *testing.T) *frame.Frame { return frame.New(5) }},
		{"zero columns zero rows", func(t *testing.T) *frame.Frame { return frame.New(0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			want := tt.f(t)
			in := want.ToRecord(mem)
			body, err := EncodeRecord(in)
			require.NoError(t, err)

			out, err := DecodeRecord(body)
			require.NoError(t, err)
			defer out.Release()
			require.Equal(t, int64(want.Len()), out.NumRows())
			require.True(t, array.RecordEqual(in, out), "decoded %v\nwant %v", out, in)
			in.Release()

			got, err := frame.FromRecord(out)
			require.NoError(t, err)
			require.Equal(t, want.Len(), got.Len())
			require.Len(t, got.Columns(), len(want.Columns()))
			for _, wc := range want.Columns() {
				gc := got.Column(wc.Name)
				require.NotNil(t, gc, wc.Name)
				for r := range want.Len() {
					require.Equal(t, wc.Value(r), gc.Value(r), "column %s row %d", wc.Name, r)
				}
			}
		})
	}
}

func TestDecodeRecordSchemaOnly(t *testing.T) {
	t.Parallel()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithLZ4())
	require.NoError(t, w.Close())
	_, err := DecodeRecord(buf.Bytes())
	require.ErrorIs(t, err, ErrNoRecord)
}

func TestDecodeRecordRejectsTwoBatches(t *testing.T) {
	t.Parallel()
	rec := testFrame(t, 4).ToRecord(nil)
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithLZ4())
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	_, err := DecodeRecord(buf.Bytes())
	require.ErrorContains(t, err, "more than one record batch")
}

// recordBodyOffset returns where the body of the record batch message starts in a stream
// written by EncodeRecord: after the schema message (which has no body) and the batch's
// metadata.
func recordBodyOffset(t testing.TB, stream []byte) int {
	t.Helper()
	pos := 0
	for range 2 {
		require.Equal(t, uint32(0xFFFFFFFF), binary.LittleEndian.Uint32(stream[pos:]))
		pos += 8 + int(binary.LittleEndian.Uint32(stream[pos+4:]))
	}
	return pos
}

func TestDecodeRecordMalformed(t *testing.T) {
	t.Parallel()
	good := encodeFrame(t, testFrame(t, 8))
	ints := frame.New(4)
	require.NoError(t, ints.Put(frame.NewColumn("i", frame.Int, 4)))
	intBody := encodeFrame(t, ints)
	bodyAt := recordBodyOffset(t, intBody)

	with := func(b []byte, edit func([]byte)) []byte {
		b = bytes.Clone(b)
		edit(b)
		return b
	}
	tests := []struct {
		name   string
		body   []byte
		budget bool // must fail on the memory budget
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"garbage", []byte("not an arrow stream at all"), false},
		{"continuation only", []byte{0xff, 0xff, 0xff, 0xff}, false},
		{"truncated in schema", good[:20], false},
		{"truncated in batch metadata", good[:recordBodyOffset(t, good)-5], false},
		{"truncated in body", good[:len(good)-20], false},
		{"garbage instead of end of stream", append(bytes.Clone(good[:len(good)-8]), "garbage!"...), false},
		// The first 8 bytes of an LZ4 buffer declare its uncompressed size; the reader
		// allocates that much before reading. 16 GiB from 344 bytes must not be attempted.
		{"huge uncompressed size", with(intBody, func(b []byte) {
			binary.LittleEndian.PutUint64(b[bodyAt:], 1<<34)
		}), true},
		{"uncompressed size over the budget", with(intBody, func(b []byte) {
			binary.LittleEndian.PutUint64(b[bodyAt:], uint64(decodeExpansion*len(intBody)+decodeSlack+1))
		}), true},
		{"negative uncompressed size", with(intBody, func(b []byte) {
			binary.LittleEndian.PutUint64(b[bodyAt:], math.MaxUint64-5)
		}), false},
		{"huge metadata length", with(good, func(b []byte) {
			binary.LittleEndian.PutUint32(b[4:], math.MaxInt32)
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := DecodeRecord(tt.body)
			require.Error(t, err)
			require.Nil(t, rec)
			if tt.budget {
				require.ErrorIs(t, err, errDecodeBudget)
			}
		})
	}
}

// The budget must leave room for what EncodeRecord writes at LZ4's best ratio: long runs of
// equal values.
func TestDecodeRecordHighlyCompressible(t *testing.T) {
	t.Parallel()
	const n = 1_000_000
	f := frame.New(n)
	for _, name := range []string{"a"} {
		require.NoError(t, f.Put(frame.NewColumn(name, frame.Int, n)))
	}
	body := encodeFrame(t, f)
	t.Logf("%d rows × 1 zero int64 column: %d bytes encoded (%.0f×)", n, len(body), float64(n*8)/float64(len(body)))
	rec, err := DecodeRecord(body)
	require.NoError(t, err)
	defer rec.Release()
	require.EqualValues(t, n, rec.NumRows())
}

// A tiny body must not make the decoder allocate much, whatever lengths it declares. The test
// is not parallel: it reads the process-wide allocation counter, and sequential tests run
// before any parallel one starts.
func TestDecodeRecordAllocationIsBounded(t *testing.T) {
	ints := frame.New(4)
	require.NoError(t, ints.Put(frame.NewColumn("i", frame.Int, 4)))
	forged := encodeFrame(t, ints)
	binary.LittleEndian.PutUint64(forged[recordBodyOffset(t, forged):], 1<<34)
	// A schema whose fields vector claims 2^31-1 entries: make([]arrow.Field, n) in the Arrow
	// reader would ask for hundreds of gigabytes.
	manyFields := encodeFrame(t, testFrame(t, 2))
	meta := manyFields[8 : 8+binary.LittleEndian.Uint32(manyFields[4:])]
	fb := &flatbuf{b: meta, left: len(meta)}
	msg, err := fb.root()
	require.NoError(t, err)
	schema, ok, err := msg.table(slotMessageHeader)
	require.True(t, ok)
	require.NoError(t, err)
	fields, err := fb.vector(schema, slotSchemaFields, 4)
	require.NoError(t, err)
	require.Equal(t, 5, fields.len)
	binary.LittleEndian.PutUint32(meta[fields.start-4:], math.MaxInt32)
	tests := []struct {
		name string
		body []byte
	}{
		{"huge fields vector", manyFields},
		// Read as a pre-0.15 length prefix, "garb" declares 1.6 GB of metadata.
		{"legacy length prefix", []byte("garbage")},
		{"huge metadata length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}},
		{"huge uncompressed size", forged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := DecodeRecord(tt.body)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			allocated := after.TotalAlloc - before.TotalAlloc
			require.Less(t, allocated, uint64(8<<20), "decoding %d bytes allocated %d", len(tt.body), allocated)
		})
	}
}

// writeStream encodes rec as an IPC stream with the given writer options.
func writeStream(t testing.TB, rec arrow.RecordBatch, opts ...ipc.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(rec.Schema())}, opts...)...)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// oneColumn returns a record of the single column arr.
func oneColumn(arr arrow.Array) arrow.RecordBatch {
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arr.DataType(), Nullable: true}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
}

// DecodeRecord takes what frame.ToRecord and EncodeRecord make, and nothing more exotic.
func TestDecodeRecordAcceptsOnlyFrameStreams(t *testing.T) {
	t.Parallel()
	mem := memory.DefaultAllocator
	int32s := func() arrow.Array {
		b := array.NewInt32Builder(mem)
		defer b.Release()
		b.AppendValues([]int32{1, 2, 3}, nil)
		return b.NewArray()
	}
	list := func() arrow.Array {
		b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
		defer b.Release()
		b.Append(true)
		b.ValueBuilder().(*array.Int64Builder).Append(1)
		return b.NewArray()
	}
	vector := func() arrow.Array { // an embedding column: list<float32>
		b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float32)
		defer b.Release()
		b.Append(true)
		b.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{0.5, -1, 2}, nil)
		b.AppendNull()
		b.Append(true)
		return b.NewArray()
	}
	nested := func() arrow.Array { // a list of lists: not a vector
		b := array.NewListBuilder(mem, arrow.ListOf(arrow.PrimitiveTypes.Float32))
		defer b.Release()
		b.Append(true)
		inner := b.ValueBuilder().(*array.ListBuilder)
		inner.Append(true)
		inner.ValueBuilder().(*array.Float32Builder).Append(1)
		return b.NewArray()
	}
	dict := func() arrow.Array {
		b := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String})
		defer b.Release()
		require.NoError(t, b.(*array.BinaryDictionaryBuilder).AppendString("a"))
		return b.NewArray()
	}
	view := func() arrow.Array {
		b := array.NewStringViewBuilder(mem)
		defer b.Release()
		b.Append("a string longer than twelve bytes")
		return b.NewArray()
	}
	frameRec := func() arrow.Array {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues([]int64{1, 2, 3}, nil)
		return b.NewArray()
	}
	tests := []struct {
		name    string
		arr     func() arrow.Array
		opts    []ipc.Option
		wantErr string
	}{
		{"lz4", frameRec, []ipc.Option{ipc.WithLZ4()}, ""},
		{"uncompressed", frameRec, nil, ""},
		{"zstd", frameRec, []ipc.Option{ipc.WithZstd()}, "compression codec"},
		{"int32", int32s, nil, "int32"},
		{"list of ints", list, nil, "a list of other than floats"},
		{"vector", vector, []ipc.Option{ipc.WithLZ4()}, ""},
		{"list of lists", nested, nil, "a list of other than floats"},
		{"dictionary", dict, nil, "dictionary"},
		{"string view", view, nil, "type 24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := oneColumn(tt.arr())
			defer rec.Release()
			out, err := DecodeRecord(writeStream(t, rec, tt.opts...))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			defer out.Release()
			require.True(t, array.RecordEqual(rec, out))
		})
	}
}
