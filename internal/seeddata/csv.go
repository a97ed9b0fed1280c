package seeddata

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"

	"github.com/rowforge/rowforge/pkg/config"
)

// inferRows is how many rows a CSV or JSON seed's types are inferred from (DuckDB, which Data
// Designer reads seeds with, samples 20480).
const inferRows = 20480

// csvTable is a CSV file with a header row. Its column types are inferred from its first
// rows; it is then read with Arrow's CSV reader, once at open to count (and check) every
// row, and again for each scan.
type csvTable struct {
	path   string
	schema *arrow.Schema
	cols   []config.SeedColumn
	n      int64
}

func openCSV(ctx context.Context, path string) (table, error) {
	schema, err := inferCSV(path)
	if err != nil {
		return nil, err
	}
	t := &csvTable{path: path, schema: schema, cols: schemaColumns(schema)}
	if t.n, err = countRows(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// inferCSV reads the header and types of a CSV file: per column int64 if every value of the
// first rows reads as one, else float64, else bool (true/false), else string. Empty values
// are nulls and say nothing of the type.
func inferCSV(path string) (*arrow.Schema, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: the file is empty (a CSV seed needs a header row)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable CSV file: %w", path, err)
	}
	names := append([]string(nil), header...)
	seen := map[string]bool{}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "\ufeff") // a byte order mark starts some exports
		if names[i] == "" {
			return nil, fmt.Errorf("%s: column %d of the header has no name", path, i+1)
		}
		if seen[names[i]] {
			return nil, fmt.Errorf("%s: the header names column %q twice", path, names[i])
		}
		seen[names[i]] = true
	}
	kinds := make([]valueKind, len(names))
	for range inferRows {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable CSV file: %w", path, err)
		}
		for i, v := range rec {
			if v != "" {
				kinds[i] = kinds[i].widen(kindOf(v))
			}
		}
	}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: kinds[i].arrowType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// valueKind orders the types a text value can read as, from the narrowest.
type valueKind uint8

const (
	kindNone valueKind = iota // only nulls so far
	kindInt
	kindFloat
	kindBool
	kindString
)

func kindOf(v string) valueKind {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return kindInt
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return kindFloat
	}
	if l := strings.ToLower(v); l == "true" || l == "false" {
		return kindBool
	}
	return kindString
}

// widen is the narrowest kind that reads values of both kinds.
func (k valueKind) widen(o valueKind) valueKind {
	switch {
	case k == o || o == kindNone:
		return k
	case k == kindNone:
		return o
	case (k == kindInt && o == kindFloat) || (k == kindFloat && o == kindInt):
		return kindFloat
	}
	return kindString
}

func (k valueKind) arrowType() arrow.DataType {
	switch k {
	case kindInt:
		return arrow.PrimitiveTypes.Int64
	case kindFloat:
		return arrow.PrimitiveTypes.Float64
	case kindBool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

func (t *csvTable) Columns() []config.SeedColumn { return t.cols }
func (t *csvTable) Len() int64                   { return t.n }

func (t *csvTable) Scan(_ context.Context, from int64) (scanner, error) {
	fh, err := os.Open(t.path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(fh)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" { // some exports start with a byte order mark
		_, _ = br.Discard(3)
	}
	r := arrowcsv.NewReader(br, t.schema, arrowcsv.WithHeader(true), arrowcsv.WithChunk(batchRows),
		arrowcsv.WithNullReader(true, ""))
	return readerScanner(t.path, t.cols, from, r, fh.Close), nil
}
