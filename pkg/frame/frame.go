// Package frame holds a row group while it is being generated: named, typed, mutable columns of
// equal length. Arrow arrays are immutable, and generators write cell by cell (LLM answers) as well
// as whole columns (samplers, expressions), so the working representation is plain Go slices; it
// converts to and from Arrow at the edges (wire encoding, Parquet).
package frame

import (
	"fmt"
	"strconv"
)

// Type is the logical type of a column. The set is Data Designer's expression dtypes.
type Type uint8

const (
	String Type = iota
	Int
	Float
	Bool
	// Vector is a list of float32s: an embedding (Parquet list<float32>).
	Vector
)

func (t Type) String() string {
	switch t {
	case String:
		return "str"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case Vector:
		return "vector"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType maps a config dtype name (int|float|str|bool) to a Type.
func ParseType(s string) (Type, error) {
	switch s {
	case "str", "string", "":
		return String, nil
	case "int":
		return Int, nil
	case "float":
		return Float, nil
	case "bool":
		return Bool, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want int, float, str or bool)", s)
}

// Column is one named column. Exactly the slice that matches Type is used; Valid is nil when
// every value is present, else Valid[i] reports whether row i holds a value.
type Column struct {
	Name    string
	Type    Type
	Strings []string
	Ints    []int64
	Floats  []float64
	Bools   []bool
	Vectors [][]float32
	Valid   []bool
}

// NewColumn returns a column of n zero values.
func NewColumn(name string, t Type, n int) *Column {
	c := &Column{Name: name, Type: t}
	switch t {
	case String:
		c.Strings = make([]string, n)
	case Int:
		c.Ints = make([]int64, n)
	case Float:
		c.Floats = make([]float64, n)
	case Bool:
		c.Bools = make([]bool, n)
	case Vector:
		c.Vectors = make([][]float32, n)
	}
	return c
}

// Len is the number of rows.
func (c *Column) Len() int {
	switch c.Type {
	case String:
		return len(c.Strings)
	case Int:
		return len(c.Ints)
	case Float:
		return len(c.Floats)
	case Vector:
		return len(c.Vectors)
	default:
		return len(c.Bools)
	}
}

// IsNull reports whether row i holds no value.
func (c *Column) IsNull(i int) bool { return c.Valid != nil && !c.Valid[i] }

// SetNull marks row i as holding no value.
func (c *Column) SetNull(i int) {
	if c.Valid == nil {
		c.Valid = make([]bool, c.Len())
		for j := range c.Valid {
			c.Valid[j] = true
		}
	}
	c.Valid[i] = false
}

// Value returns row i as a Go value (string, int64, float64, bool, []float32, or nil for a
// null). Templates and JSON renderings read cells through it.
func (c *Column) Value(i int) any {
	if c.IsNull(i) {
		return nil
	}
	switch c.Type {
	case String:
		return c.Strings[i]
	case Int:
		return c.Ints[i]
	case Float:
		return c.Floats[i]
	case Vector:
		return c.Vectors[i]
	default:
		return c.Bools[i]
	}
}

// Set stores v in row i, converting between Go numeric kinds where that loses nothing.
func (c *Column) Set(i int, v any) error {
	if v == nil {
		c.SetNull(i)
		return nil
	}
	switch c.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("column %q: want str, got %T", c.Name, v)
		}
		c.Strings[i] = s
	case Int:
		switch x := v.(type) {
		case int64:
			c.Ints[i] = x
		case int:
			c.Ints[i] = int64(x)
		default:
			return fmt.Errorf("column %q: want int, got %T", c.Name, v)
		}
	case Float:
		switch x := v.(type) {
		case float64:
			c.Floats[i] = x
		case int64:
			c.Floats[i] = float64(x)
		case int:
			c.Floats[i] = float64(x)
		default:
			return fmt.Errorf("column %q: want float, got %T", c.Name, v)
		}
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("column %q: want bool, got %T", c.Name, v)
		}
		c.Bools[i] = b
	case Vector:
		vec, err := toVector(v)
		if err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
		c.Vectors[i] = vec
	}
	if c.Valid != nil {
		c.Valid[i] = true
	}
	return nil
}

// Filter returns a copy holding only the rows where keep[i] is true.
func (c *Column) Filter(keep []bool) *Column {
	out := &Column{Name: c.Name, Type: c.Type}
	for i, k := range keep {
		if !k {
			continue
		}
		switch c.Type {
		case String:
			out.Strings = append(out.Strings, c.Strings[i])
		case Int:
			out.Ints = append(out.Ints, c.Ints[i])
		case Float:
			out.Floats = append(out.Floats, c.Floats[i])
		case Bool:
			out.Bools = append(out.Bools, c.Bools[i])
		case Vector:
			out.Vectors = append(out.Vectors, c.Vectors[i])
		}
		if c.Valid != nil {
			out.Valid = append(out.Valid, c.Valid[i])
		}
	}
	if out.Len() == 0 { // keep the slice non-nil so Len/Type stay coherent
		*out = *NewColumn(c.Name, c.Type, 0)
	}
	return out
}

// Frame is a set of columns of one length. Column order is insertion order, which is the order
// the output schema takes.
type Frame struct {
	n     int
	cols  []*Column
	index map[string]int
}

// New returns an empty frame of n rows.
func New(n int) *Frame { return &Frame{n: n, index: map[string]int{}} }

// Len is the number of rows.
func (f *Frame) Len() int { return f.n }

// Columns returns the columns in order. The slice is the frame's own: do not modify it.
func (f *Frame) Columns() []*Column { return f.cols }

// Column returns the named column or nil.
func (f *Frame) Column(name string) *Column {
	if i, ok := f.index[name]; ok {
		return f.cols[i]
	}
	return nil
}

// Put adds c, or replaces the column of the same name in place. Its length must match the frame.
func (f *Frame) Put(c *Column) error {
	if c.Len() != f.n {
		return fmt.Errorf("column %q has %d rows, frame has %d", c.Name, c.Len(), f.n)
	}
	if i, ok := f.index[c.Name]; ok {
		f.cols[i] = c
		return nil
	}
	f.index[c.Name] = len(f.cols)
	f.cols = append(f.cols, c)
	return nil
}

// Filter returns a new frame with only the rows where keep[i] is true.
func (f *Frame) Filter(keep []bool) *Frame {
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	out := New(n)
	for _, c := range f.cols {
		_ = out.Put(c.Filter(keep)) // lengths match by construction
	}
	return out
}

// Select returns a frame with only the named columns, in the given order; unknown names are
// skipped. Columns are shared, not copied.
func (f *Frame) Select(names []string) *Frame {
	out := New(f.n)
	for _, n := range names {
		if c := f.Column(n); c != nil {
			_ = out.Put(c)
		}
	}
	return out
}

// Row returns row i as a map from column name to value, for templates and JSON.
func (f *Frame) Row(i int) map[string]any {
	m := make(map[string]any, len(f.cols))
	for _, c := range f.cols {
		m[c.Name] = c.Value(i)
	}
	return m
}

// Concat returns the rows of frames one after the other. Every frame must have the columns of
// the first, by name and type (in any order); the result has the first's order.
func Concat(frames ...*Frame) (*Frame, error) {
	if len(frames) == 0 {
		return New(0), nil
	}
	if len(frames) == 1 {
		return frames[0], nil
	}
	n := 0
	for _, f := range frames {
		n += f.n
	}
	out := New(n)
	for _, c := range frames[0].cols {
		col := &Column{Name: c.Name, Type: c.Type}
		nulls := false
		for _, f := range frames {
			o := f.Column(c.Name)
			if o == nil || o.Type != c.Type {
				return nil, fmt.Errorf("column %q: missing or of another type in a frame to concatenate", c.Name)
			}
			nulls = nulls || o.Valid != nil
		}
		for _, f := range frames {
			o := f.Column(c.Name)
			switch c.Type {
			case String:
				col.Strings = append(col.Strings, o.Strings...)
			case Int:
				col.Ints = append(col.Ints, o.Ints...)
			case Float:
				col.Floats = append(col.Floats, o.Floats...)
			case Bool:
				col.Bools = append(col.Bools, o.Bools...)
			case Vector:
				col.Vectors = append(col.Vectors, o.Vectors...)
			}
			if !nulls {
				continue
			}
			if o.Valid != nil {
				col.Valid = append(col.Valid, o.Valid...)
			} else {
				for range o.Len() {
					col.Valid = append(col.Valid, true)
				}
			}
		}
		if col.Len() != n {
			*col = *NewColumn(c.Name, c.Type, n) // only when n is 0: keep the slice non-nil
		}
		if err := out.Put(col); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// toVector converts a list of numbers (float32s, or the []any of decoded JSON) to a vector.
func toVector(v any) ([]float32, error) {
	switch x := v.(type) {
	case []float32:
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			switch n := e.(type) {
			case float64:
				out[i] = float32(n)
			case int64:
				out[i] = float32(n)
			case int:
				out[i] = float32(n)
			default:
				return nil, fmt.Errorf("want a list of numbers, got %T at %d", e, i)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of numbers, got %T", v)
}
