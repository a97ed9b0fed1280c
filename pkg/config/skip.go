package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Skip is a column's `skip`: rows whose When renders truthy are not generated (no model call)
// and hold Value instead. Data Designer's semantics: When is a Jinja template with its own
// {{ }}; what it renders is read as a Python literal and tested for truth, and a template
// that fails to render skips the row.
type Skip struct {
	When string
	// Value is what a skipped cell holds: nil (null), or a bool, int64, float64 or string —
	// for an expression column already converted to its dtype, as Python's constructors do.
	Value any
	// Inputs are the columns When reads, sorted: they order the column after them but, unlike
	// Inputs, do not propagate their skips.
	Inputs []string
}

// parseSkip decodes `skip`, once the column's type (and an expression's dtype) is known.
func parseSkip(f *fields, col *Column, v any) {
	if col.Type == TypeSampler || col.Type == TypeSeedDataset {
		f.errorf("skip", "skip is not supported on %s columns: they are drawn together for the whole row group and cannot be skipped one by one", col.Type)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.errorf("skip", "want a mapping {when, value}, got %s", describe(v))
		return
	}
	sf := newFields(f.p, f.column, f.prefix+"skip.", "key", m)
	s := &Skip{}
	when, ok := sf.str("when", true)
	if ok {
		s.When = when
		refs, err := TemplateRefs(when)
		switch {
		case err != nil:
			sf.errorf("when", "invalid Jinja template: %v", err)
		case len(refs) == 0:
			sf.errorf("when", "%q does not reference any column; write the condition with Jinja delimiters, e.g. '{{ in_stock == 0 }}', not 'in_stock == 0'", when)
		case slices.ContainsFunc(refs, func(r string) bool { return r == col.Name || slices.Contains(col.SideColumns(), r) }):
			sf.errorf("when", "the column's skip.when reads the column itself (or a side column of it); a column cannot gate its own generation")
		default:
			s.Inputs = refs
		}
	}
	if val, ok := sf.get("value"); ok {
		switch val.(type) {
		case bool, int64, float64, string:
			s.Value = val
		default:
			sf.errorf("value", "want a bool, a number, a string or null, got %s", describe(val))
		}
	}
	sf.unknown()
	if s.Value != nil && col.Type == TypeExpression {
		converted, err := convertValue(s.Value, col.DType)
		if err != nil {
			sf.errorf("value", "%s cannot be converted to %s (the column's dtype): %v", pyfmt.Repr(s.Value), col.DType, err)
		}
		s.Value = converted
	}
	col.Skip = s
}

// convertValue converts a skip value to an expression dtype as Python's int(), float(),
// str() and bool() do: int(1.5) is 1, bool("False") is True.
func convertValue(v any, t frame.Type) (any, error) {
	switch t {
	case frame.String:
		return pyfmt.Str(v), nil
	case frame.Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case string:
			return x != "", nil
		}
	case frame.Int:
		switch x := v.(type) {
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case int64:
			return x, nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1<<63 {
				return nil, fmt.Errorf("cannot convert float %s to integer", pyfmt.Float(x))
			}
			return int64(math.Trunc(x)), nil
		case string:
			n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(x), "_", ""), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid literal for int() with base 10: %s", pyfmt.Repr(x))
			}
			return n, nil
		}
	case frame.Float:
		switch x := v.(type) {
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("could not convert string to float: %s", pyfmt.Repr(x))
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("unsupported value %s", pyfmt.Repr(v))
}
