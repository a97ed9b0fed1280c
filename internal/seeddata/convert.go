package seeddata

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// frameType maps an Arrow type to the frame type a seed column takes. Integers, floats and
// booleans keep their kind; everything else is text: strings as they are, dates and times in
// the form pandas prints them (which is what a Data Designer template renders), nested values
// (lists, structs, maps) as JSON, which templates decode again (`{{ row.address.city }}`).
func frameType(dt arrow.DataType) frame.Type {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return frame.Int
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return frame.Float
	case arrow.BOOL:
		return frame.Bool
	case arrow.DICTIONARY:
		return frameType(dt.(*arrow.DictionaryType).ValueType)
	}
	return frame.String
}

// schemaColumns maps a schema's fields to seed columns.
func schemaColumns(s *arrow.Schema) []config.SeedColumn {
	cols := make([]config.SeedColumn, s.NumFields())
	for i, f := range s.Fields() {
		cols[i] = config.SeedColumn{Name: f.Name, Type: frameType(f.Type)}
	}
	return cols
}

// toFrame copies a record batch into a frame of the seed's columns.
func toFrame(rec arrow.RecordBatch, cols []config.SeedColumn) (*frame.Frame, error) {
	n := int(rec.NumRows())
	f := frame.New(n)
	for i, sc := range cols {
		idx := rec.Schema().FieldIndices(sc.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("column %q is missing", sc.Name)
		}
		c, err := toColumn(rec.Column(idx[0]), sc)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", cols[i].Name, err)
		}
		if err := f.Put(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// toColumn copies an array into a column of type sc.Type (see frameType).
func toColumn(arr arrow.Array, sc config.SeedColumn) (*frame.Column, error) {
	n := arr.Len()
	c := frame.NewColumn(sc.Name, sc.Type, n)
	if dict, ok := arr.(*array.Dictionary); ok {
		values := dict.Dictionary()
		for i := range n {
			if dict.IsNull(i) {
				c.SetNull(i)
				continue
			}
			if err := setCell(c, i, values, dict.GetValueIndex(i)); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
	for i := range n {
		if arr.IsNull(i) {
			c.SetNull(i)
			continue
		}
		if err := setCell(c, i, arr, i); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// setCell writes arr[j] into row i of c.
func setCell(c *frame.Column, i int, arr arrow.Array, j int) error {
	switch c.Type {
	case frame.Int:
		v, err := intValue(arr, j)
		c.Ints[i] = v
		return err
	case frame.Float:
		switch a := arr.(type) {
		case *array.Float64:
			c.Floats[i] = a.Value(j)
		case *array.Float32:
			c.Floats[i] = float64(a.Value(j))
		case *array.Float16:
			c.Floats[i] = float64(a.Value(j).Float32())
		}
		return nil
	case frame.Bool:
		c.Bools[i] = arr.(*array.Boolean).Value(j)
		return nil
	}
	s, err := text(arr, j)
	c.Strings[i] = s
	return err
}

func intValue(arr arrow.Array, j int) (int64, error) {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(j), nil
	case *array.Int32:
		return int64(a.Value(j)), nil
	case *array.Int16:
		return int64(a.Value(j)), nil
	case *array.Int8:
		return int64(a.Value(j)), nil
	case *array.Uint32:
		return int64(a.Value(j)), nil
	case *array.Uint16:
		return int64(a.Value(j)), nil
	case *array.Uint8:
		return int64(a.Value(j)), nil
	case *array.Uint64:
		if v := a.Value(j); v <= math.MaxInt64 {
			return int64(v), nil
		}
		return 0, fmt.Errorf("value %d does not fit an int64", a.Value(j))
	}
	return 0, fmt.Errorf("unexpected %s", arr.DataType())
}

// text renders arr[j] as a string column holds it.
func text(arr arrow.Array, j int) (string, error) {
	switch a := arr.(type) {
	case *array.String:
		return strings.Clone(a.Value(j)), nil
	case *array.LargeString:
		return strings.Clone(a.Value(j)), nil
	case *array.StringView:
		return strings.Clone(a.Value(j)), nil
	case *array.Binary:
		return string(a.Value(j)), nil
	case *array.LargeBinary:
		return string(a.Value(j)), nil
	case *array.Date32:
		return a.Value(j).ToTime().Format(time.DateOnly), nil
	case *array.Date64:
		return a.Value(j).ToTime().Format(time.DateOnly), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return pandasTime(a.Value(j).ToTime(unit)), nil
	case *array.List, *array.LargeList, *array.FixedSizeList, *array.Struct, *array.Map, *array.ListView:
		b, err := json.Marshal(arr.GetOneForMarshal(j))
		return string(b), err
	}
	return arr.ValueStr(j), nil
}

// pandasTime is how pandas prints a Timestamp: seconds always, fractions only when present.
func pandasTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format(time.DateTime)
	}
	return t.Format("2006-01-02 15:04:05.999999999")
}
