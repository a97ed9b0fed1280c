package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Every decoder of bytes that come off the wire has a fuzz target here. Each seeds its corpus
// with encodings made by the real encoders plus truncated and garbage variants, so a plain
// `go test` runs them all; `go test -fuzz=FuzzX ./pkg/wire` explores further. Crashers found
// that way are kept in testdata/fuzz/FuzzX.

// addTruncations adds b and some damaged copies of it to f's corpus.
func addTruncations(f *testing.F, b []byte) {
	f.Add(b)
	for _, n := range []int{0, 1, 4, 8, len(b) / 3, len(b) / 2, len(b) - 8, len(b) - 1} {
		if n >= 0 && n < len(b) {
			f.Add(bytes.Clone(b[:n]))
		}
	}
	if len(b) > 0 {
		flipped := bytes.Clone(b)
		flipped[len(b)/2] ^= 0xff
		f.Add(flipped)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, fr := range []*frame.Frame{testFrame(f, 0), testFrame(f, 1), testFrame(f, 17), frame.New(5), frame.New(0)} {
		addTruncations(f, encodeFrame(f, fr))
	}
	// One int64 column, with a forged uncompressed size in its LZ4 buffer.
	ints := frame.New(4)
	if err := ints.Put(frame.NewColumn("i", frame.Int, 4)); err != nil {
		f.Fatal(err)
	}
	forged := encodeFrame(f, ints)
	binary.LittleEndian.PutUint64(forged[recordBodyOffset(f, forged):], 1<<34)
	f.Add(forged)
	// A schema-only stream, two batches, an uncompressed stream.
	rec := testFrame(f, 3).ToRecord(nil)
	for _, write := range []int{0, 2} {
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithLZ4())
		for range write {
			if err := w.Write(rec); err != nil {
				f.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	var plain bytes.Buffer
	w := ipc.NewWriter(&plain, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	addTruncations(f, plain.Bytes())
	rec.Release()
	f.Add([]byte("garbage"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})

	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := DecodeRecord(body)
		if err != nil {
			require.Nil(t, rec)
			return
		}
		defer rec.Release()
		require.GreaterOrEqual(t, rec.NumRows(), int64(0))
		require.EqualValues(t, rec.Schema().NumFields(), rec.NumCols())
		for i, col := range rec.Columns() {
			require.EqualValues(t, rec.NumRows(), col.Len(), "column %d", i)
		}
		// What decodes re-encodes, and decodes again to the same shape.
		again, err := EncodeRecord(rec)
		if err != nil {
			return // a valid stream of a type the writer does not support
		}
		rec2, err := DecodeRecord(again)
		require.NoError(t, err)
		defer rec2.Release()
		require.Equal(t, rec.NumRows(), rec2.NumRows())
		require.True(t, rec.Schema().Equal(rec2.Schema()), "schema %v became %v", rec.Schema(), rec2.Schema())
	})
}

func FuzzDecodeGroup(f *testing.F) {
	addTruncations(f, testGroup(f, 5))
	addTruncations(f, testGroup(f, 3, "dropped-columns-parquet-files"))
	addTruncations(f, testGroup(f, 7, "processors-files/summary", "dropped-columns-parquet-files"))
	addTruncations(f, testGroup(f, 0, "empty"))
	mainBody := encodedRecord(f, testFrame(f, 2))
	sideBody := encodedRecord(f, sideFrame(f, "s", 2))
	f.Add(container())
	f.Add(container(rawPart{"main", mainBody}))
	f.Add(container(rawPart{"", mainBody}, rawPart{"../s", sideBody}))
	f.Add(container(rawPart{"", mainBody}, rawPart{"s", sideBody}, rawPart{"s", sideBody}))
	f.Add(append(container(rawPart{"", mainBody}), 0))
	f.Add(mainBody)
	f.Add([]byte(GroupMagic))
	f.Add([]byte("garbage"))
	f.Add(append([]byte(GroupMagic), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))

	f.Fuzz(func(t *testing.T, body []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		main, sides, err := decodeGroup(body, mem)
		if err != nil {
			// No allocation check here: when the Arrow reader fails inside a stream it may keep
			// a buffer it allocated (the Go allocator's GC reclaims it). TestDecodeGroupReleasesOnError
			// checks that decodeGroup releases the records it decoded before the error.
			require.ErrorIs(t, err, ErrMalformedGroup)
			require.Nil(t, main)
			require.Nil(t, sides)
			return
		}
		defer mem.AssertSize(t, 0) // runs after releaseGroup
		defer releaseGroup(main, sides)
		require.NotNil(t, main)
		require.Less(t, len(sides), MaxGroupParts)
		names := map[string]bool{}
		for _, s := range sides {
			require.NoError(t, checkPartName(s.Name))
			require.False(t, names[s.Name], "name %q twice", s.Name)
			names[s.Name] = true
			require.NotNil(t, s.Rec)
		}
		// What decodes re-encodes, and decodes again to the same shape.
		again, err := EncodeGroup(main, sides)
		if err != nil {
			return // a valid stream of a type the writer does not support
		}
		main2, sides2, err := DecodeGroup(again)
		require.NoError(t, err)
		defer releaseGroup(main2, sides2)
		require.Equal(t, main.NumRows(), main2.NumRows())
		require.True(t, main.Schema().Equal(main2.Schema()))
		require.Len(t, sides2, len(sides))
		for i := range sides {
			require.Equal(t, sides[i].Name, sides2[i].Name)
			require.Equal(t, sides[i].Rec.NumRows(), sides2[i].Rec.NumRows())
		}
	})
}

func addJSON(f *testing.F, vs ...any) {
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		addTruncations(f, b)
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `"x"`, `0`, `{"`, "\xff\xfe"} {
		f.Add([]byte(s))
	}
}

func FuzzDecodeRunRecord(f *testing.F) {
	r := validRunRecord()
	p := r
	p.Mode, p.State, p.Reason = ModePreview, RunAborted, "operator"
	addJSON(f, r, p, map[string]any{"id": "r", "mode": "build", "buffer_size": -1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRunRecord(b)
		if err != nil {
			require.Nil(t, r)
			return
		}
		require.NoError(t, ValidToken(r.ID))
		require.Contains(t, []string{ModeBuild, ModePreview}, r.Mode)
		require.Positive(t, r.BufferSize)
		require.GreaterOrEqual(t, r.NumRecords, 0)
		again, err := json.Marshal(r)
		require.NoError(t, err)
		r2, err := DecodeRunRecord(again)
		require.NoError(t, err)
		require.Equal(t, r.ID, r2.ID)
		require.Equal(t, r.State, r2.State)
		require.Equal(t, r.NumRecords, r2.NumRecords)
		require.True(t, r.CreatedAt.Equal(r2.CreatedAt))
	})
}

func FuzzDecodeControl(f *testing.F) {
	addJSON(f, Control{Op: OpAbort, Reason: "wrong config"}, Control{Op: OpAbort}, Control{Op: "pause"})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeControl(b)
		if err != nil {
			require.Nil(t, c)
			return
		}
		require.Equal(t, OpAbort, c.Op)
	})
}

func FuzzDecodeStats(f *testing.F) {
	addJSON(f, GroupStats{Rows: 10, Dropped: 1, Columns: map[string]ColumnStats{"a": {Generated: 9, Failed: 1, Retried: 2}}},
		GroupStats{}, GroupStats{Rows: -1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStats(b)
		if err != nil {
			require.Nil(t, s)
			return
		}
		require.GreaterOrEqual(t, s.Rows, 0)
		require.GreaterOrEqual(t, s.Dropped, 0)
	})
}

func FuzzDecodeFinalize(f *testing.F) {
	addJSON(f, Finalize{Metadata: Metadata{TargetNumRecords: 10, ActualNumRecords: 10, TotalNumBatches: 1, RunID: "r1",
		FilePaths: map[string][]string{"parquet-files": {"batch_00000.parquet"}}, Outcome: RunCompleted},
		BuilderConfig: json.RawMessage(`{"columns":[]}`)}, Finalize{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fin, err := DecodeFinalize(b)
		if err != nil {
			require.Nil(t, fin)
			return
		}
		require.NotEmpty(t, fin.Metadata.RunID)
		require.Equal(t, fin.BuilderConfig, fin.Metadata.BuilderConfig)
	})
}

func FuzzDecodeSinkCommit(f *testing.F) {
	addJSON(f, SinkCommit{Commit: Commit{Group: 3, Rows: 10, Path: "batch_00003.parquet"}, Dir: "/out"},
		SinkCommit{Error: "disk full"}, SinkCommit{Commit: Commit{Group: -1}})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeSinkCommit(b)
		if err != nil {
			require.Nil(t, c)
			return
		}
		require.GreaterOrEqual(t, c.Group, 0)
		require.GreaterOrEqual(t, c.Rows, 0)
	})
}

var subjectAreas = []string{"groups", "outcomes", "sink", "control", "progress"}

// FuzzParseSubject checks two directions for every area: a subject that parses is exactly what
// the builders make of its parts, and a subject the builders make of valid tokens parses back
// to those tokens.
func FuzzParseSubject(f *testing.F) {
	l := DefaultLayout()
	f.Add("rf", l.GroupSubject("r1", 3), "r1", KindGroup, "3", 3)
	f.Add("rf", l.OutcomeSubject("r1", KindDrain, "w-1"), "r1", KindDrain, "w-1", 0)
	f.Add("rf", l.SinkSubject("r1", SinkGroup, 9), "r1", SinkGroup, "", 9)
	f.Add("rf", l.SinkSubject("r1", SinkFinalize, 0), "r1", SinkFinalize, "", 0)
	f.Add("rf", l.ControlSubject("r1"), "r1", "", "", 0)
	f.Add("rf", l.ProgressSubject("r1"), "r1", "", "", 0)
	f.Add("acme", "acme.sink.a.group.x", "a.group", "x", "", -1)
	f.Add("rf", "rf.groups..1", "", "", "", 0)
	f.Add("rf", "rf.outcomes.r.group.>", "*", ">", " ", 0)
	f.Add("a.b", "a.b.groups.r.1", "r", "k", "i", 1)
	f.Add("", ".control.r", "r\x00", "k\n", "ü", 0)

	f.Fuzz(func(t *testing.T, prefix, subject, run, kind, id string, group int) {
		l := Layout{Prefix: prefix}
		for _, area := range subjectAreas {
			// Direction 1: whatever parses is rebuilt exactly by the builders.
			if s, err := l.ParseSubject(area, subject); err == nil {
				require.Equal(t, subject, rebuild(t, l, area, s), "area %s", area)
			}
		}

		// Direction 2: builders, then ParseSubject.
		valid := ValidToken(l.prefix()) == nil && ValidToken(run) == nil
		built := []struct {
			area, subject string
			want          Subject
			valid         bool
		}{
			{"groups", l.GroupSubject(run, group), Subject{Run: run, ID: strconv.Itoa(group)}, valid},
			{"outcomes", l.OutcomeSubject(run, kind, id), Subject{Run: run, Kind: kind, ID: id},
				valid && ValidToken(kind) == nil && ValidToken(id) == nil},
			{"sink", l.SinkSubject(run, SinkGroup, group), Subject{Run: run, Kind: SinkGroup, ID: strconv.Itoa(group)}, valid},
			{"control", l.ControlSubject(run), Subject{Run: run}, valid},
			{"progress", l.ProgressSubject(run), Subject{Run: run}, valid},
		}
		if kind != SinkGroup {
			built = append(built, struct {
				area, subject string
				want          Subject
				valid         bool
			}{"sink", l.SinkSubject(run, kind, group), Subject{Run: run, Kind: kind}, valid && ValidToken(kind) == nil})
		}
		for _, b := range built {
			s, err := l.ParseSubject(b.area, b.subject)
			if b.valid {
				require.NoError(t, err, "built %q", b.subject)
				require.Equal(t, b.want, s)
			} else if err == nil {
				require.Equal(t, b.subject, rebuild(t, l, b.area, s))
			}
			for _, other := range subjectAreas {
				if other != b.area {
					_, err := l.ParseSubject(other, b.subject)
					require.Error(t, err, "%q parsed as %s", b.subject, other)
				}
			}
		}
	})
}

// rebuild makes the subject of s with the layout's builders, checking that its tokens are
// valid.
func rebuild(t *testing.T, l Layout, area string, s Subject) string {
	t.Helper()
	require.NoError(t, ValidToken(s.Run))
	switch area {
	case "groups":
		require.Empty(t, s.Kind)
		require.NoError(t, ValidToken(s.ID))
		if g, err := GroupIndex(s.ID); err == nil {
			require.Equal(t, l.GroupSubject(s.Run, g), strings.Join([]string{l.prefix(), area, s.Run, s.ID}, "."))
		}
		return strings.Join([]string{l.prefix(), area, s.Run, s.ID}, ".")
	case "outcomes":
		require.NoError(t, ValidToken(s.Kind))
		require.NoError(t, ValidToken(s.ID))
		return l.OutcomeSubject(s.Run, s.Kind, s.ID)
	case "sink":
		require.NoError(t, ValidToken(s.Kind))
		if s.Kind != SinkGroup {
			require.Empty(t, s.ID)
			return l.SinkSubject(s.Run, s.Kind, 0)
		}
		require.NoError(t, ValidToken(s.ID))
		if g, err := GroupIndex(s.ID); err == nil {
			return l.SinkSubject(s.Run, s.Kind, g)
		}
		return strings.Join([]string{l.prefix(), area, s.Run, s.Kind, s.ID}, ".")
	case "control":
		require.Empty(t, s.Kind)
		require.Empty(t, s.ID)
		return l.ControlSubject(s.Run)
	case "progress":
		require.Empty(t, s.Kind)
		require.Empty(t, s.ID)
		return l.ProgressSubject(s.Run)
	}
	t.Fatalf("unknown area %q parsed", area)
	return ""
}

func FuzzDecodeMaxDeliveries(f *testing.F) {
	f.Add([]byte(`{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"RF_GROUPS","consumer":"workers","stream_seq":42,"deliveries":5}`))
	addJSON(f, MaxDeliveries{StreamSeq: 1, Deliveries: 5}, MaxDeliveries{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeMaxDeliveries(b)
		if err != nil {
			require.Nil(t, a)
			return
		}
		require.NotZero(t, a.StreamSeq)
	})
}

func FuzzDecodeOutcome(f *testing.F) {
	stats := &GroupStats{Rows: 3, Dropped: 1, Columns: map[string]ColumnStats{"q": {Generated: 4, Failed: 1}}}
	for _, o := range []Outcome{
		{Run: "r1", Group: 2, Status: OutcomeCompleted, Worker: "w", Stats: stats},
		{Run: "r1", Group: 0, Status: OutcomeDropped, Worker: "w", Stats: &GroupStats{}},
		{Run: "r1", Group: 7, Status: OutcomeFailed, Worker: "w", Err: `column "q": boom`},
		{Run: "r1", Group: 1, Status: OutcomeAborted, Worker: "w", Err: "run aborted: x", AbortReason: "x"},
	} {
		h, err := o.Header()
		require.NoError(f, err)
		f.Add(h.Get(HeaderStatus), h.Get(HeaderGroup), h.Get(HeaderStats), h.Get(HeaderAbortReason))
	}
	f.Add("completed", "-1", "{}", "")
	f.Add("completed", "1", "", "")
	f.Add("bogus", "1", "{}", "")
	f.Fuzz(func(t *testing.T, status, group, stats, reason string) {
		h := map[string][]string{HeaderStatus: {status}, HeaderGroup: {group}, HeaderStats: {stats},
			HeaderAbortReason: {reason}, HeaderRun: {"r1"}, HeaderWorker: {"w"}}
		o, err := DecodeOutcome(h)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedOutcome)
			return
		}
		require.True(t, o.Status.Valid())
		require.GreaterOrEqual(t, o.Group, 0)
		if o.Status == OutcomeCompleted || o.Status == OutcomeDropped {
			require.NotNil(t, o.Stats)
		}
		h2, err := o.Header() // what decodes encodes again, and decodes to the same outcome
		require.NoError(t, err)
		o2, err := DecodeOutcome(h2)
		require.NoError(t, err)
		require.Equal(t, o, o2)
	})
}
