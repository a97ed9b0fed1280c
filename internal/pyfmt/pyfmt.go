// Package pyfmt formats values the way Python does. Data Designer users' configs and templates
// were written against Python's text of numbers ("3.0", not "3"), so both config keys and
// generated text must match it.
package pyfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Float is Python's repr()/str() of a float: the shortest digits that round-trip, in fixed
// notation for exponents in [-4, 16) (always with a fractional part, "3.0"), otherwise in
// scientific notation ("1e+16", "1.5e-05").
func Float(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// Str is Python's str() of a scalar value.
func Str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return Float(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}

// Repr is Python's repr() of a scalar value: strings quoted, the rest as Str.
func Repr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	return Str(v)
}
