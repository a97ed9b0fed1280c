package wire

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// rawPart is a container part written by hand, to forge containers EncodeGroup would refuse.
type rawPart struct {
	name string
	body []byte
}

// container frames parts as EncodeGroup does, without any check.
func container(parts ...rawPart) []byte {
	out := []byte(GroupMagic)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(parts)))
	for _, p := range parts {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p.name)))
		out = append(out, p.name...)
		out = binary.LittleEndian.AppendUint64(out, uint64(len(p.body)))
		out = append(out, p.body...)
	}
	return out
}

// sideFrame is a side record unlike testFrame: other columns, content depending on tag.
func sideFrame(t testing.TB, tag string, n int) *frame.Frame {
	t.Helper()
	f := frame.New(n)
	note := frame.NewColumn("note", frame.String, n)
	k := frame.NewColumn("k", frame.Int, n)
	for r := range n {
		note.Strings[r] = fmt.Sprintf("%s/%d", tag, r)
		k.Ints[r] = int64(len(tag) * r)
	}
	require.NoError(t, f.Put(note))
	require.NoError(t, f.Put(k))
	return f
}

// encodedRecord is EncodeRecord of f.
func encodedRecord(t testing.TB, f *frame.Frame) []byte {
	t.Helper()
	rec := f.ToRecord(nil)
	defer rec.Release()
	b, err := EncodeRecord(rec)
	require.NoError(t, err)
	return b
}

// testGroup encodes a group of testFrame(rows) with a side of sideFrame(name, rows) per name.
func testGroup(t testing.TB, rows int, names ...string) []byte {
	t.Helper()
	main := testFrame(t, rows).ToRecord(nil)
	defer main.Release()
	var sides []NamedRecord
	for _, n := range names {
		rec := sideFrame(t, n, rows).ToRecord(nil)
		defer rec.Release()
		sides = append(sides, NamedRecord{Name: n, Rec: rec})
	}
	b, err := EncodeGroup(main, sides)
	require.NoError(t, err)
	return b
}

func releaseGroup(main arrow.RecordBatch, sides []NamedRecord) {
	if main != nil {
		main.Release()
	}
	for _, s := range sides {
		s.Rec.Release()
	}
}

func TestGroupRoundTrip(t *testing.T) {
	t.Parallel()
	for _, names := range [][]string{
		nil,
		{"dropped-columns-parquet-files"},
		{"processors-files/summary", "dropped-columns-parquet-files"},
	} {
		t.Run(fmt.Sprintf("%d sides", len(names)), func(t *testing.T) {
			t.Parallel()
			want := testFrame(t, 9).ToRecord(nil)
			defer want.Release()
			body := testGroup(t, 9, names...)
			require.Equal(t, GroupMagic, string(body[:4]))

			main, sides, err := DecodeGroup(body)
			require.NoError(t, err)
			defer releaseGroup(main, sides)
			require.True(t, array.RecordEqual(want, main), "main record")
			require.Len(t, sides, len(names))
			if len(names) == 0 {
				require.Nil(t, sides)
			}
			for i, n := range names {
				require.Equal(t, n, sides[i].Name, "sides keep their order")
				ws := sideFrame(t, n, 9).ToRecord(nil)
				require.True(t, array.RecordEqual(ws, sides[i].Rec), "side %q", n)
				ws.Release()
			}
		})
	}
}

// A group whose side holds no rows (a processor that kept none of the group) travels too.
func TestGroupEmptySide(t *testing.T) {
	t.Parallel()
	main, sides, err := DecodeGroup(func() []byte {
		m := testFrame(t, 3).ToRecord(nil)
		defer m.Release()
		s := sideFrame(t, "x", 0).ToRecord(nil)
		defer s.Release()
		b, err := EncodeGroup(m, []NamedRecord{{Name: "x", Rec: s}})
		require.NoError(t, err)
		return b
	}())
	require.NoError(t, err)
	defer releaseGroup(main, sides)
	require.EqualValues(t, 3, main.NumRows())
	require.Len(t, sides, 1)
	require.Zero(t, sides[0].Rec.NumRows())
}

func TestEncodeGroupRejects(t *testing.T) {
	t.Parallel()
	main := testFrame(t, 2).ToRecord(nil)
	defer main.Release()
	side := sideFrame(t, "s", 2).ToRecord(nil)
	defer side.Release()

	_, err := EncodeGroup(nil, nil)
	require.ErrorContains(t, err, "nil main record")
	_, err = EncodeGroup(main, []NamedRecord{{Name: "s"}})
	require.ErrorContains(t, err, "nil record")
	_, err = EncodeGroup(main, []NamedRecord{{Name: "s", Rec: side}, {Name: "s", Rec: side}})
	require.ErrorContains(t, err, "twice")
	for _, name := range badPartNames {
		_, err := EncodeGroup(main, []NamedRecord{{Name: name, Rec: side}})
		require.Error(t, err, "%q", name)
	}
	many := make([]NamedRecord, MaxGroupParts)
	for i := range many {
		many[i] = NamedRecord{Name: fmt.Sprintf("s%d", i), Rec: side}
	}
	_, err = EncodeGroup(main, many)
	require.ErrorContains(t, err, "at most 63")
	b, err := EncodeGroup(main, many[:MaxGroupParts-1])
	require.NoError(t, err, "the main record and 63 sides fit")
	m, s, err := DecodeGroup(b)
	require.NoError(t, err)
	require.Len(t, s, MaxGroupParts-1)
	releaseGroup(m, s)
}

// badPartNames are side names that are not clean relative paths.
var badPartNames = []string{
	"", ".", "..", "../x", "x/../../y", "a/../b", "./a", "a/", "/abs", "a//b", `a\b`, "a\x00b", "a\nb",
	"\xff", strings.Repeat("n", maxPartName+1),
}

func TestCheckPartName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"dropped-columns-parquet-files", "processors-files/summary", "a.b/c d", "ünï", ".hidden",
		strings.Repeat("n", maxPartName)} {
		require.NoError(t, checkPartName(name), "%q", name)
	}
	for _, name := range badPartNames {
		require.Error(t, checkPartName(name), "%q", name)
	}
}

func TestDecodeGroupRejects(t *testing.T) {
	t.Parallel()
	mainBody := encodedRecord(t, testFrame(t, 4))
	sideBody := encodedRecord(t, sideFrame(t, "s", 4))
	valid := container(rawPart{"", mainBody}, rawPart{"s", sideBody})
	tooMany := []rawPart{{"", mainBody}}
	for i := range MaxGroupParts {
		tooMany = append(tooMany, rawPart{fmt.Sprintf("s%d", i), sideBody})
	}
	hugeBody := container(rawPart{"", mainBody})
	binary.LittleEndian.PutUint64(hugeBody[4+4+4:], 1<<63)
	hugeName := container(rawPart{"", mainBody}, rawPart{"s", sideBody})
	binary.LittleEndian.PutUint32(hugeName[len(container(rawPart{"", mainBody})):], 1<<31)

	tests := map[string][]byte{
		"empty":            nil,
		"magic only":       []byte(GroupMagic),
		"wrong magic":      append([]byte("RFG2"), valid[4:]...),
		"bare ipc stream":  mainBody,
		"no parts":         container(),
		"too many parts":   container(tooMany...),
		"trailing byte":    append(append([]byte(nil), valid...), 0),
		"trailing part":    append(append([]byte(nil), valid...), container(rawPart{"t", sideBody})[8:]...),
		"count over parts": func() []byte { b := append([]byte(nil), valid...); b[4] = 3; return b }(),
		"body past end":    hugeBody,
		"name past end":    hugeName,
		"named main":       container(rawPart{"main", mainBody}, rawPart{"s", sideBody}),
		"duplicate side":   container(rawPart{"", mainBody}, rawPart{"s", sideBody}, rawPart{"s", sideBody}),
		"garbage side":     container(rawPart{"", mainBody}, rawPart{"s", []byte("garbage")}),
		"garbage main":     container(rawPart{"", []byte("garbage")}, rawPart{"s", sideBody}),
		"empty main":       container(rawPart{"", nil}),
		"two groups":       append(append([]byte(nil), valid...), valid...),
	}
	for _, name := range badPartNames {
		tests["side named "+name] = container(rawPart{"", mainBody}, rawPart{name, sideBody})
	}
	for n := range len(valid) {
		tests[fmt.Sprintf("truncated to %d", n)] = valid[:n]
	}
	for name, body := range tests {
		main, sides, err := DecodeGroup(body)
		require.ErrorIs(t, err, ErrMalformedGroup, name)
		require.Nil(t, main, name)
		require.Nil(t, sides, name)
	}
}

// A decode that fails on a later part releases the records of the parts before it.
func TestDecodeGroupReleasesOnError(t *testing.T) {
	t.Parallel()
	mainBody := encodedRecord(t, testFrame(t, 20))
	sideBody := encodedRecord(t, sideFrame(t, "s", 20))
	for name, body := range map[string][]byte{
		"garbage third part": container(rawPart{"", mainBody}, rawPart{"a", sideBody}, rawPart{"b", []byte("garbage")}),
		"bad third name":     container(rawPart{"", mainBody}, rawPart{"a", sideBody}, rawPart{"../b", sideBody}),
		"trailing bytes":     append(container(rawPart{"", mainBody}, rawPart{"a", sideBody}), 1, 2, 3),
	} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		_, _, err := decodeGroup(body, mem)
		require.Error(t, err, name)
		mem.AssertSize(t, 0)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	main, sides, err := decodeGroup(container(rawPart{"", mainBody}, rawPart{"a", sideBody}), mem)
	require.NoError(t, err)
	require.NotZero(t, mem.CurrentAlloc(), "the records come from the allocator")
	releaseGroup(main, sides)
	mem.AssertSize(t, 0)
}

// A tiny container must not make the decoder allocate much, whatever its parts declare. Not
// parallel: it reads the process-wide allocation counter (see TestDecodeRecordAllocationIsBounded).
func TestDecodeGroupAllocationIsBounded(t *testing.T) {
	ints := frame.New(4)
	require.NoError(t, ints.Put(frame.NewColumn("i", frame.Int, 4)))
	forged := encodeFrame(t, ints)
	binary.LittleEndian.PutUint64(forged[recordBodyOffset(t, forged):], 1<<34)
	parts := []rawPart{{"", encodedRecord(t, ints)}}
	for i := range MaxGroupParts - 1 {
		parts = append(parts, rawPart{fmt.Sprintf("s%d", i), []byte("garbage")})
	}
	for name, body := range map[string][]byte{
		"forged side":   container(rawPart{"", encodedRecord(t, ints)}, rawPart{"s", forged}),
		"garbage sides": container(parts...),
		"count only":    append([]byte(GroupMagic), 0xff, 0xff, 0xff, 0xff),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := DecodeGroup(body)
		runtime.ReadMemStats(&after)
		require.Error(t, err, name)
		allocated := after.TotalAlloc - before.TotalAlloc
		require.Less(t, allocated, uint64(8<<20), "%s: decoding %d bytes allocated %d", name, len(body), allocated)
	}
}
