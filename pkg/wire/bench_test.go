package wire

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/rowforge/rowforge/pkg/frame"
)

// benchRows × 8 columns (two of each type, 1 in 20 cells null) with strings of about 130
// bytes of word salad: a body of about 3 MB, the size of a generated row group.
const benchRows = 10_000

var benchWords = strings.Fields(`the a of to and in is that for it as was with be by on not he this are or his from at
	which but have an they you were her she there one all we their been has when who will more no if out so said
	what up its about into than them can only other new some could time these two may then do first any my now
	such like our over man me even most made after also did many before must through back years where much your way
	well down should because each just those people how too little state good very make world still own see men work`)

func benchFrame(b *testing.B) *frame.Frame {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	f := frame.New(benchRows)
	for k := range 2 {
		s := frame.NewColumn(fmt.Sprintf("text%d", k), frame.String, benchRows)
		i := frame.NewColumn(fmt.Sprintf("int%d", k), frame.Int, benchRows)
		x := frame.NewColumn(fmt.Sprintf("float%d", k), frame.Float, benchRows)
		t := frame.NewColumn(fmt.Sprintf("bool%d", k), frame.Bool, benchRows)
		var sb strings.Builder
		for row := range benchRows {
			sb.Reset()
			for sb.Len() < 130 {
				sb.WriteString(benchWords[r.IntN(len(benchWords))])
				sb.WriteByte(' ')
			}
			s.Strings[row] = sb.String()
			i.Ints[row] = r.Int64N(1_000_000)
			x.Floats[row] = r.NormFloat64() * 100
			t.Bools[row] = r.IntN(2) == 0
		}
		for row := 0; row < benchRows; row += 20 {
			for _, c := range []*frame.Column{s, i, x, t} {
				c.SetNull((row + k*7) % benchRows)
			}
		}
		for _, c := range []*frame.Column{s, i, x, t} {
			if err := f.Put(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	return f
}

func BenchmarkEncodeRecord(b *testing.B) {
	rec := benchFrame(b).ToRecord(nil)
	defer rec.Release()
	body, err := EncodeRecord(rec)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := benchFrame(b).ToRecord(nil)
	body, err := EncodeRecord(rec)
	rec.Release()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := DecodeRecord(body)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
}

// loopbackBytesPerSec is what a body travels at through a local NATS server (measured: about
// 1 GB/s for 3 MB bodies).
const loopbackBytesPerSec = 1e9

// BenchmarkCompression weighs LZ4 against no compression for one encode, one decode and the
// trip of the body over loopback: SetBytes is the frame's uncompressed size, so MB/s compares
// directly; "wire-B" is the encoded size and "e2e-ns/op" adds the time the body would take at
// loopbackBytesPerSec to the measured encode+decode time.
func BenchmarkCompression(b *testing.B) {
	rec := benchFrame(b).ToRecord(nil)
	defer rec.Release()
	raw := rawSize(rec)
	for _, c := range []struct {
		name string
		opts []ipc.Option
	}{
		{"lz4", []ipc.Option{ipc.WithLZ4()}},
		{"none", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := writeStream(b, rec, c.opts...)
			b.SetBytes(raw)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				body = writeStream(b, rec, c.opts...)
				out, err := DecodeRecord(body)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			perOp := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(len(body)), "wire-B")
			b.ReportMetric(perOp+float64(len(body))/loopbackBytesPerSec*1e9, "e2e-ns/op")
		})
	}
}

// rawSize is the total size of a record's buffers.
func rawSize(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		for _, buf := range col.Data().Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
	}
	return n
}
