package seeddata

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rowforge/rowforge/pkg/config"
)

// batchRows is how many rows a reader decodes at a time: the unit of a seed's memory.
const batchRows = 4096

// parquetTable is a Parquet file, read row group by row group.
type parquetTable struct {
	path   string
	cols   []config.SeedColumn
	groups []int64 // rows per row group
	n      int64
}

func openParquet(path string) (table, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("%s: schema: %w", path, err)
	}
	t := &parquetTable{path: path, cols: schemaColumns(schema), n: pf.NumRows()}
	for i := range pf.NumRowGroups() {
		t.groups = append(t.groups, pf.MetaData().RowGroup(i).NumRows())
	}
	return t, nil
}

func (t *parquetTable) Columns() []config.SeedColumn { return t.cols }
func (t *parquetTable) Len() int64                   { return t.n }

// Scan reads from the row group that holds row from, so a resumed run or a later cycle does
// not decode the groups before it.
func (t *parquetTable) Scan(ctx context.Context, from int64) (scanner, error) {
	start := from
	first := 0
	for first < len(t.groups) && from >= t.groups[first] {
		from -= t.groups[first]
		first++
	}
	pf, err := file.OpenParquetFile(t.path, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batchRows}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	var rgs []int
	for i := first; i < len(t.groups); i++ {
		rgs = append(rgs, i)
	}
	if len(rgs) == 0 {
		pf.Close()
		return &batchScanner{name: t.path, next: func() (arrow.RecordBatch, error) { return nil, io.EOF }, close: func() error { return nil }}, nil
	}
	rr, err := fr.GetRecordReader(ctx, nil, rgs)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	s := readerScanner(t.path, t.cols, from, rr, pf.Close)
	s.row = start
	return s, nil
}
