package generators

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

type kind uint8

const (
	kindInt kind = iota
	kindFloat
	kindStr
	kindAny
	kindTime
)

// sampled is a column's raw values; the slice matching kind is set.
type sampled struct {
	kind   kind
	ints   []int64
	floats []float64
	strs   []string
	anys   []any
	times  []time.Time
}

// convertTo applies a sampler's convert_to.
func convertTo(v sampled, to string) (sampled, error) {
	if v.kind == kindTime {
		strs := make([]string, len(v.times))
		var buf []byte
		if to == "" {
			for i, t := range v.times {
				buf = t.AppendFormat(buf[:0], isoLayout)
				strs[i] = string(buf)
			}
		} else {
			f, err := compileStrftime(to)
			if err != nil {
				return v, fmt.Errorf("convert_to: %w", err)
			}
			for i, t := range v.times {
				buf = f.append(buf[:0], t)
				strs[i] = string(buf)
			}
		}
		return sampled{kind: kindStr, strs: strs}, nil
	}
	if to == "" || v.kind == kindStr { // uuids pass through, as in Data Designer
		return v, nil
	}
	var err error
	switch to {
	case "int":
		v, err = toInts(v)
	case "float":
		v, err = toFloats(v)
	case "str":
		v = toStrs(v)
	default:
		err = fmt.Errorf("unsupported convert_to %q (want int, float or str)", to)
	}
	if err != nil {
		return v, fmt.Errorf("convert_to %s: %w", to, err)
	}
	return v, nil
}

func toInts(v sampled) (sampled, error) {
	out := sampled{kind: kindInt}
	switch v.kind {
	case kindInt:
		return v, nil
	case kindFloat:
		out.ints = make([]int64, len(v.floats))
		for i, f := range v.floats {
			x, err := roundToInt64(f)
			if err != nil {
				return v, fmt.Errorf("row %d: %w", i, err)
			}
			out.ints[i] = x
		}
	case kindAny:
		out.ints = make([]int64, len(v.anys))
		for i, a := range v.anys {
			var err error
			switch x := a.(type) {
			case int64:
				out.ints[i] = x
			case int:
				out.ints[i] = int64(x)
			case float64:
				out.ints[i], err = roundToInt64(x)
			case string:
				out.ints[i], err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			default:
				err = fmt.Errorf("cannot convert %T to int", a)
			}
			if err != nil {
				return v, fmt.Errorf("row %d: value %q: %w", i, pyfmt.Str(a), err)
			}
		}
	}
	return out, nil
}

func toFloats(v sampled) (sampled, error) {
	out := sampled{kind: kindFloat}
	switch v.kind {
	case kindFloat:
		return v, nil
	case kindInt:
		out.floats = make([]float64, len(v.ints))
		for i, x := range v.ints {
			out.floats[i] = float64(x)
		}
	case kindAny:
		out.floats = make([]float64, len(v.anys))
		for i, a := range v.anys {
			var err error
			switch x := a.(type) {
			case int64:
				out.floats[i] = float64(x)
			case int:
				out.floats[i] = float64(x)
			case float64:
				out.floats[i] = x
			case string:
				out.floats[i], err = strconv.ParseFloat(strings.TrimSpace(x), 64)
			default:
				err = fmt.Errorf("cannot convert %T to float", a)
			}
			if err != nil {
				return v, fmt.Errorf("row %d: value %q: %w", i, pyfmt.Str(a), err)
			}
		}
	}
	return out, nil
}

func toStrs(v sampled) sampled {
	out := sampled{kind: kindStr}
	switch v.kind {
	case kindStr:
		return v
	case kindInt:
		out.strs = make([]string, len(v.ints))
		for i, x := range v.ints {
			out.strs[i] = strconv.FormatInt(x, 10)
		}
	case kindFloat:
		out.strs = make([]string, len(v.floats))
		for i, x := range v.floats {
			out.strs[i] = pyfmt.Float(x)
		}
	case kindAny:
		out.strs = make([]string, len(v.anys))
		for i, x := range v.anys {
			out.strs[i] = pyfmt.Str(x)
		}
	}
	return out
}

// store writes v into a new column of type t, converting where nothing is lost (ints to
// floats, integral floats to ints, anything to its Python str form).
func store(name string, t frame.Type, v sampled, n int) (*frame.Column, error) {
	if t == frame.String {
		v = toStrs(v)
		c := &frame.Column{Name: name, Type: t, Strings: v.strs}
		if c.Strings == nil {
			c.Strings = make([]string, n)
		}
		return c, nil
	}
	switch {
	case t == frame.Int && v.kind == kindInt:
		return &frame.Column{Name: name, Type: t, Ints: v.ints}, nil
	case t == frame.Float && v.kind == kindFloat:
		return &frame.Column{Name: name, Type: t, Floats: v.floats}, nil
	}
	c := frame.NewColumn(name, t, n)
	bad := func(i int, x any) error {
		return fmt.Errorf("row %d: value %s cannot be stored as %s", i, pyfmt.Str(x), t)
	}
	switch {
	case v.kind == kindInt:
		for i, x := range v.ints {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	case v.kind == kindFloat:
		for i, x := range v.floats {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	case v.kind == kindAny:
		for i, x := range v.anys {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	default:
		return nil, fmt.Errorf("string values cannot be stored as %s", t)
	}
	return c, nil
}

var errLossy = errors.New("lossy conversion")

func setLossless(c *frame.Column, i int, v any) error {
	switch c.Type {
	case frame.Int:
		switch x := v.(type) {
		case int64:
			c.Ints[i] = x
			return nil
		case int:
			c.Ints[i] = int64(x)
			return nil
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				c.Ints[i] = int64(x)
				return nil
			}
		}
	case frame.Float:
		switch x := v.(type) {
		case int64:
			c.Floats[i] = float64(x)
			return nil
		case int:
			c.Floats[i] = float64(x)
			return nil
		case float64:
			c.Floats[i] = x
			return nil
		}
	case frame.Bool:
		switch x := v.(type) {
		case bool:
			c.Bools[i] = x
			return nil
		case int64:
			if x == 0 || x == 1 {
				c.Bools[i] = x == 1
				return nil
			}
		}
	}
	return errLossy
}

// newSampled returns n zero values of kind k.
func newSampled(k kind, n int) sampled {
	v := sampled{kind: k}
	switch k {
	case kindInt:
		v.ints = make([]int64, n)
	case kindFloat:
		v.floats = make([]float64, n)
	case kindStr:
		v.strs = make([]string, n)
	case kindAny:
		v.anys = make([]any, n)
	case kindTime:
		v.times = make([]time.Time, n)
	}
	return v
}

// scatter writes src's values, drawn for rows, into v's rows.
func (v *sampled) scatter(src sampled, rows []int) error {
	if src.kind != v.kind {
		return fmt.Errorf("draws of kinds %d and %d in one column", v.kind, src.kind)
	}
	for j, i := range rows {
		switch v.kind {
		case kindInt:
			v.ints[i] = src.ints[j]
		case kindFloat:
			v.floats[i] = src.floats[j]
		case kindStr:
			v.strs[i] = src.strs[j]
		case kindAny:
			v.anys[i] = src.anys[j]
		case kindTime:
			v.times[i] = src.times[j]
		}
	}
	return nil
}

// value returns row i as a template sees it: instants as ISO-8601 text, as Data Designer
// renders a pandas Timestamp in a condition.
func (v *sampled) value(i int) any {
	switch v.kind {
	case kindInt:
		return v.ints[i]
	case kindFloat:
		return v.floats[i]
	case kindStr:
		return v.strs[i]
	case kindAny:
		return v.anys[i]
	case kindTime:
		return v.times[i].Format(isoLayout)
	}
	return nil
}

// number returns row i as a float, for comparisons; false for a value that is not a number.
func (v *sampled) number(i int) (float64, bool) {
	switch v.kind {
	case kindInt:
		return float64(v.ints[i]), true
	case kindFloat:
		return v.floats[i], true
	case kindAny:
		switch x := v.anys[i].(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		}
	}
	return 0, false
}

// len is the number of values.
func (v *sampled) len() int {
	switch v.kind {
	case kindInt:
		return len(v.ints)
	case kindFloat:
		return len(v.floats)
	case kindStr:
		return len(v.strs)
	case kindAny:
		return len(v.anys)
	case kindTime:
		return len(v.times)
	}
	return 0
}
