package frame

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func arrowType(t Type) arrow.DataType {
	switch t {
	case Int:
		return arrow.PrimitiveTypes.Int64
	case Float:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Vector:
		return arrow.ListOf(arrow.PrimitiveTypes.Float32)
	default:
		return arrow.BinaryTypes.String
	}
}

// ToRecord converts the frame to an Arrow record batch. Every field is nullable: a non-nullable
// Parquet column silently reads nulls back as zero values. The caller releases the record.
func (f *Frame) ToRecord(mem memory.Allocator) arrow.RecordBatch {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	fields := make([]arrow.Field, len(f.cols))
	arrs := make([]arrow.Array, len(f.cols))
	for i, c := range f.cols {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true}
		arrs[i] = c.toArray(mem)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(f.n))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

func (c *Column) toArray(mem memory.Allocator) arrow.Array {
	switch c.Type {
	case Int:
		return build(array.NewInt64Builder(mem), c.Ints, c.Valid)
	case Float:
		return build(array.NewFloat64Builder(mem), c.Floats, c.Valid)
	case Bool:
		return build(array.NewBooleanBuilder(mem), c.Bools, c.Valid)
	case Vector:
		b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float32)
		defer b.Release()
		vb := b.ValueBuilder().(*array.Float32Builder)
		for i, v := range c.Vectors {
			if c.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(true)
			vb.AppendValues(v, nil)
		}
		return b.NewArray()
	default:
		return build(array.NewStringBuilder(mem), c.Strings, c.Valid)
	}
}

// builder is what the Arrow builders of flat types have in common.
type builder[T any] interface {
	AppendValues(v []T, valid []bool)
	NewArray() arrow.Array
	Release()
}

// build makes the array of a flat column with its validity, releasing the builder.
func build[T any](b builder[T], values []T, valid []bool) arrow.Array {
	defer b.Release()
	b.AppendValues(values, valid)
	return b.NewArray()
}

// FromRecord copies an Arrow record batch into a frame. It accepts exactly the types ToRecord
// writes (list<float32> for a Vector) and names the column of any other.
func FromRecord(rec arrow.RecordBatch) (*Frame, error) {
	n := int(rec.NumRows())
	f := New(n)
	for i, field := range rec.Schema().Fields() {
		arr := rec.Column(i)
		var c *Column
		switch a := arr.(type) {
		case *array.String:
			c = NewColumn(field.Name, String, n)
			// a.Value aliases the record's buffer, which an allocator other than Go's frees or
			// reuses on Release: copy the column's bytes once and slice the copy.
			if n > 0 {
				data, offs := string(a.ValueBytes()), a.ValueOffsets()
				for j := range n {
					c.Strings[j] = data[offs[j]-offs[0] : offs[j+1]-offs[0]]
				}
			}
		case *array.Int64:
			c = NewColumn(field.Name, Int, n)
			copy(c.Ints, a.Int64Values())
		case *array.Float64:
			c = NewColumn(field.Name, Float, n)
			copy(c.Floats, a.Float64Values())
		case *array.Boolean:
			c = NewColumn(field.Name, Bool, n)
			for j := range n {
				c.Bools[j] = a.Value(j)
			}
		case *array.List:
			values, ok := a.ListValues().(*array.Float32)
			if !ok {
				return nil, fmt.Errorf("column %q: unsupported arrow type %s", field.Name, arr.DataType())
			}
			c = NewColumn(field.Name, Vector, n)
			offs := a.Offsets()
			for j := range n {
				if a.IsValid(j) {
					c.Vectors[j] = make([]float32, offs[j+1]-offs[j])
					copy(c.Vectors[j], values.Float32Values()[offs[j]:offs[j+1]])
				}
			}
		default:
			return nil, fmt.Errorf("column %q: unsupported arrow type %s", field.Name, arr.DataType())
		}
		if arr.NullN() > 0 {
			c.Valid = make([]bool, n)
			for j := range n {
				c.Valid[j] = arr.IsValid(j)
			}
		}
		if err := f.Put(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}
