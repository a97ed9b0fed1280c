package seeddata

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// table is a seed source read as rows in a fixed order: a file, several files one after the
// other, or the files of a folder.
type table interface {
	Columns() []config.SeedColumn
	// Len is the number of rows.
	Len() int64
	// Scan returns the rows from row from on, in order.
	Scan(ctx context.Context, from int64) (scanner, error)
}

// scanner reads a table's rows in order.
type scanner interface {
	// Next returns the next rows, at most max of them; io.EOF after the last.
	Next(ctx context.Context, max int) (*frame.Frame, error)
	Close() error
}

// batchScanner turns a stream of Arrow record batches into frames of any size: it keeps the
// current batch and how much of it was handed out.
type batchScanner struct {
	cols  []config.SeedColumn
	next  func() (arrow.RecordBatch, error) // the next batch (owned by the source), io.EOF at the end
	close func() error
	name  string // the file, for errors
	row   int64  // the table row of the next row handed out, for errors
	cur   arrow.RecordBatch
	off   int64
	skip  int64 // rows still to pass over before handing any out
}

func (s *batchScanner) Next(ctx context.Context, max int) (*frame.Frame, error) {
	for s.cur == nil || s.off >= s.cur.NumRows() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := s.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("%s: after row %d: %w", s.name, s.row, err)
			}
			return nil, err
		}
		s.cur, s.off = rec, 0
		if s.skip > 0 {
			k := min(s.skip, rec.NumRows())
			s.off, s.skip = k, s.skip-k
		}
	}
	hi := min(s.off+int64(max), s.cur.NumRows())
	part := s.cur.NewSlice(s.off, hi)
	defer part.Release()
	f, err := toFrame(part, s.cols)
	if err != nil {
		return nil, fmt.Errorf("%s: row %d: %w", s.name, s.row, err)
	}
	s.row += hi - s.off
	s.off = hi
	return f, nil
}

func (s *batchScanner) Close() error { return s.close() }

// arrowReader is what Arrow's CSV, JSON and Parquet record readers have in common.
type arrowReader interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
	Release()
}

// readerScanner hands out r's rows from table row from on; closeFile closes what r reads.
func readerScanner(name string, cols []config.SeedColumn, from int64, r arrowReader, closeFile func() error) *batchScanner {
	return &batchScanner{
		cols: cols, name: name, skip: from, row: from,
		next: func() (arrow.RecordBatch, error) {
			if r.Next() {
				return r.RecordBatch(), nil
			}
			if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, io.EOF
		},
		close: func() error {
			r.Release()
			return closeFile()
		},
	}
}

// countRows reads a table through once: its row count, every row checked on the way.
func countRows(ctx context.Context, t table) (int64, error) {
	s, err := t.Scan(ctx, 0)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var n int64
	for {
		f, err := s.Next(ctx, batchRows)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		n += int64(f.Len())
	}
}

// concat is several tables of the same columns, one after the other (a pattern's files).
type concat struct {
	parts []table
	names []string // each part's file, for errors
	n     int64
}

func newConcat(parts []table, names []string) (table, error) {
	if len(parts) == 1 {
		return parts[0], nil
	}
	c := &concat{parts: parts, names: names}
	want := parts[0].Columns()
	for i, p := range parts {
		if got := p.Columns(); !sameColumns(want, got) {
			return nil, fmt.Errorf("%s has the columns %s, and %s has %s: the files of a seed must have the same columns",
				names[i], describeColumns(got), names[0], describeColumns(want))
		}
		c.n += p.Len()
	}
	return c, nil
}

func sameColumns(a, b []config.SeedColumn) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func describeColumns(cols []config.SeedColumn) string {
	s := "("
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c.Name + " " + c.Type.String()
	}
	return s + ")"
}

func (c *concat) Columns() []config.SeedColumn { return c.parts[0].Columns() }
func (c *concat) Len() int64                   { return c.n }

func (c *concat) Scan(ctx context.Context, from int64) (scanner, error) {
	i := 0
	for i < len(c.parts) && from >= c.parts[i].Len() {
		from -= c.parts[i].Len()
		i++
	}
	return &concatScanner{c: c, i: i, from: from}, nil
}

type concatScanner struct {
	c    *concat
	i    int
	from int64
	cur  scanner
}

func (s *concatScanner) Next(ctx context.Context, max int) (*frame.Frame, error) {
	for s.i < len(s.c.parts) {
		if s.cur == nil {
			sc, err := s.c.parts[s.i].Scan(ctx, s.from)
			if err != nil {
				return nil, err
			}
			s.cur, s.from = sc, 0
		}
		f, err := s.cur.Next(ctx, max)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
		if err := s.cur.Close(); err != nil {
			return nil, err
		}
		s.cur = nil
		s.i++
	}
	return nil, io.EOF
}

func (s *concatScanner) Close() error {
	if s.cur != nil {
		return s.cur.Close()
	}
	return nil
}
