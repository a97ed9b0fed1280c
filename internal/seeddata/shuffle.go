package seeddata

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rowforge/rowforge/pkg/frame"
)

// A shuffled seed hands out its selection in the order of a seeded permutation, a new one each
// time the selection is used up (Data Designer shuffles again on every pass, unseeded). The
// permutation needs no memory (a Feistel network); reading rows in its order does: the
// selection is read once per pass and each row written to the bucket of its place in the
// order, a temporary Arrow IPC file of at most BucketRows rows. A bucket is then read and
// sorted when its rows are needed. Memory holds one bucket and the buckets' write buffers.

const posColumn = "__rowforge_pos"

type shuffler struct {
	d       *Dataset
	seed    uint64
	size    int64
	bucket  int64 // rows per bucket
	dir     string
	pass    int64 // the pass whose buckets are on disk; -1 for none
	buckets int64
	loaded  int64        // the bucket in rows; -1 for none
	rowsOf  *frame.Frame // the loaded bucket's rows, in order
}

func newShuffler(d *Dataset, seed uint64) *shuffler {
	b := int64(d.opts.BucketRows)
	if b <= 0 {
		b = 65536
	}
	return &shuffler{d: d, seed: seed, size: d.Len(), bucket: b, pass: -1, loaded: -1}
}

// rows returns up to n rows of pass, from place j of its order on.
func (s *shuffler) rows(ctx context.Context, pass, j int64, n int) (*frame.Frame, error) {
	if pass != s.pass {
		if err := s.spill(ctx, pass); err != nil {
			return nil, err
		}
	}
	b := j / s.bucket
	if b != s.loaded {
		if err := s.load(b); err != nil {
			return nil, err
		}
	}
	lo := j - b*s.bucket
	hi := min(lo+int64(n), int64(s.rowsOf.Len()))
	keep := make([]bool, s.rowsOf.Len())
	for i := lo; i < hi; i++ {
		keep[i] = true
	}
	return s.rowsOf.Filter(keep), nil
}

// spill writes every selected row to the bucket of its place in pass's order; a selection
// that fits one bucket is ordered in memory instead.
func (s *shuffler) spill(ctx context.Context, pass int64) error {
	if err := s.close(); err != nil {
		return err
	}
	if s.size <= s.bucket {
		return s.inMemory(ctx, pass)
	}
	dir, err := os.MkdirTemp(s.d.opts.TempDir, "rowforge-shuffle-*")
	if err != nil {
		return fmt.Errorf("shuffle the seed: %w", err)
	}
	s.dir, s.loaded, s.rowsOf = dir, -1, nil
	s.buckets = (s.size + s.bucket - 1) / s.bucket
	perm := newPermutation(uint64(s.size), s.seed, uint64(pass))
	flushAt := max(64, int(s.bucket/s.buckets))
	w := make([]*bucketWriter, s.buckets)
	defer func() {
		for _, bw := range w {
			if bw != nil {
				_ = bw.close()
			}
		}
	}()
	err = s.scanSelection(ctx, func(f *frame.Frame, i int64) error {
		for r := range f.Len() {
			place := int64(perm.at(uint64(i + int64(r))))
			b := place / s.bucket
			if w[b] == nil {
				w[b] = &bucketWriter{path: filepath.Join(dir, fmt.Sprintf("%06d.arrow", b)), cols: f.Columns()}
			}
			if err := w[b].add(f, r, place, flushAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, bw := range w {
		if bw != nil {
			if err := bw.close(); err != nil {
				return err
			}
		}
	}
	clear(w)
	s.pass = pass // only now: a spill that failed is done again
	return nil
}

// load reads bucket b and orders its rows by their place.
func (s *shuffler) load(b int64) error {
	fh, err := os.Open(filepath.Join(s.dir, fmt.Sprintf("%06d.arrow", b)))
	if err != nil {
		return fmt.Errorf("shuffled seed bucket: %w", err)
	}
	defer fh.Close()
	r, err := ipc.NewReader(fh, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return fmt.Errorf("shuffled seed bucket: %w", err)
	}
	defer r.Release()
	var parts []*frame.Frame
	for r.Next() {
		f, err := frame.FromRecord(r.RecordBatch())
		if err != nil {
			return err
		}
		parts = append(parts, f)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("shuffled seed bucket: %w", err)
	}
	all, err := frame.Concat(parts...)
	if err != nil {
		return err
	}
	pos := all.Column(posColumn).Ints
	order := make([]int, len(pos))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(pos[a] - pos[b]) })
	out := reorder(all.Select(names(all, posColumn)), order)
	s.loaded, s.rowsOf = b, out
	return nil
}

// scanSelection reads the selection's rows in batches, handing use each batch with the index
// of its first row. Both shuffles read this way so that a seed that changed under the run
// (fewer rows than the selection counted) fails the same way in both.
func (s *shuffler) scanSelection(ctx context.Context, use func(f *frame.Frame, first int64) error) error {
	sc, err := s.d.t.Scan(ctx, s.d.first)
	if err != nil {
		return err
	}
	defer sc.Close()
	for i := int64(0); i < s.size; {
		f, err := sc.Next(ctx, int(min(int64(batchRows), s.size-i)))
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the seed dataset ended before its %d rows: was it changed?", s.d.t.Len())
		}
		if err != nil {
			return err
		}
		if err := use(f, i); err != nil {
			return err
		}
		i += int64(f.Len())
	}
	return nil
}

// inMemory reads the whole selection and orders it by pass's permutation: bucket 0.
func (s *shuffler) inMemory(ctx context.Context, pass int64) error {
	var parts []*frame.Frame
	err := s.scanSelection(ctx, func(f *frame.Frame, _ int64) error {
		parts = append(parts, f)
		return nil
	})
	if err != nil {
		return err
	}
	all, err := frame.Concat(parts...)
	if err != nil {
		return err
	}
	perm := newPermutation(uint64(s.size), s.seed, uint64(pass))
	order := make([]int, s.size) // place → selected row
	for i := range order {
		order[perm.at(uint64(i))] = i
	}
	s.rowsOf, s.loaded, s.buckets, s.pass = reorder(all, order), 0, 1, pass
	return nil
}

// reorder returns f's rows in the given order.
func reorder(f *frame.Frame, order []int) *frame.Frame {
	out := frame.New(len(order))
	for _, c := range f.Columns() {
		nc := frame.NewColumn(c.Name, c.Type, len(order))
		for i, src := range order {
			if c.IsNull(src) {
				nc.SetNull(i)
				continue
			}
			_ = nc.Set(i, c.Value(src))
		}
		_ = out.Put(nc)
	}
	return out
}

func (s *shuffler) close() error {
	var err error
	if s.dir != "" {
		err = os.RemoveAll(s.dir)
	}
	s.dir, s.pass, s.loaded, s.rowsOf = "", -1, -1, nil
	return err
}

// bucketWriter buffers a bucket's rows and appends them to its file as Arrow IPC batches.
type bucketWriter struct {
	path string
	cols []*frame.Column
	buf  []rowRef
	fh   *os.File
	w    *ipc.Writer
}

type rowRef struct {
	vals  []any
	place int64
}

func (bw *bucketWriter) add(f *frame.Frame, r int, place int64, flushAt int) error {
	vals := make([]any, len(f.Columns()))
	for i, c := range f.Columns() {
		vals[i] = c.Value(r)
	}
	bw.buf = append(bw.buf, rowRef{vals: vals, place: place})
	if len(bw.buf) >= flushAt {
		return bw.flush()
	}
	return nil
}

func (bw *bucketWriter) flush() error {
	if len(bw.buf) == 0 {
		return nil
	}
	f := frame.New(len(bw.buf))
	for i, c := range bw.cols {
		nc := frame.NewColumn(c.Name, c.Type, len(bw.buf))
		for j, row := range bw.buf {
			if row.vals[i] == nil {
				nc.SetNull(j)
			} else if err := nc.Set(j, row.vals[i]); err != nil {
				return err
			}
		}
		_ = f.Put(nc)
	}
	pos := frame.NewColumn(posColumn, frame.Int, len(bw.buf))
	for j, row := range bw.buf {
		pos.Ints[j] = row.place
	}
	_ = f.Put(pos)
	bw.buf = bw.buf[:0]
	rec := f.ToRecord(memory.DefaultAllocator)
	defer rec.Release()
	if bw.w == nil {
		fh, err := os.Create(bw.path)
		if err != nil {
			return fmt.Errorf("shuffle the seed: %w", err)
		}
		bw.fh = fh
		bw.w = ipc.NewWriter(fh, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	}
	if err := bw.w.Write(rec); err != nil {
		return fmt.Errorf("shuffle the seed: %w", err)
	}
	return nil
}

func (bw *bucketWriter) close() error {
	err := bw.flush()
	if bw.w != nil {
		err = errors.Join(err, bw.w.Close(), bw.fh.Close())
		bw.w, bw.fh = nil, nil
	}
	return err
}

// permutation is a seeded bijection of [0, n): a balanced Feistel network over the smallest
// even power of two that holds n, walked again from any value at or beyond n (cycle walking).
type permutation struct {
	n         uint64
	half      uint
	mask      uint64
	key0, key uint64
}

func newPermutation(n, seed, pass uint64) *permutation {
	bitsN := uint(bits.Len64(n - 1))
	if bitsN < 2 {
		bitsN = 2
	}
	if bitsN%2 == 1 {
		bitsN++
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], pass)
	return &permutation{n: n, half: bitsN / 2, mask: 1<<(bitsN/2) - 1,
		key0: mix(binary.LittleEndian.Uint64(b[:8]) ^ 0x5eed5eed), key: mix(binary.LittleEndian.Uint64(b[8:]) + 0x9e3779b97f4a7c15)}
}

func (p *permutation) at(x uint64) uint64 {
	for {
		l, r := x>>p.half, x&p.mask
		for round := range uint64(4) {
			l, r = r, l^(mix(r^p.key0^(p.key+round))&p.mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// names lists f's columns but skip.
func names(f *frame.Frame, skip string) []string {
	var out []string
	for _, c := range f.Columns() {
		if c.Name != skip {
			out = append(out, c.Name)
		}
	}
	return out
}
