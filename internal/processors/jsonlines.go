package processors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// EncodeJSONLines writes f as JSON lines: one object per row, column name → value, keys in
// column order, each line ending in '\n'. Strings are written as encoding/json writes them
// (invalid UTF-8 becomes U+FFFD), floats as Python's json does ("2.0", "1e+16"). A NaN or
// infinite float has no JSON form: the error names its column and row.
func EncodeJSONLines(f *frame.Frame) ([]byte, error) {
	cols := f.Columns()
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i] = appendJSONString(nil, c.Name)
	}
	var b []byte
	for row := range f.Len() {
		b = append(b, '{')
		for i, c := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[i]...)
			b = append(b, ':')
			var err error
			if b, err = appendCell(b, c, row); err != nil {
				return nil, err
			}
		}
		b = append(b, '}', '\n')
	}
	return b, nil
}

func appendCell(b []byte, c *frame.Column, row int) ([]byte, error) {
	if c.IsNull(row) {
		return append(b, "null"...), nil
	}
	switch c.Type {
	case frame.String:
		return appendJSONString(b, c.Strings[row]), nil
	case frame.Int:
		return strconv.AppendInt(b, c.Ints[row], 10), nil
	case frame.Float:
		x := c.Floats[row]
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("column %q, row %d: %s has no JSON form", c.Name, row, pyfmt.Float(x))
		}
		return append(b, pyfmt.Float(x)...), nil
	case frame.Bool:
		return strconv.AppendBool(b, c.Bools[row]), nil
	case frame.Vector:
		b = append(b, '[')
		for i, x := range c.Vectors[row] {
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("column %q, row %d: %v has no JSON form", c.Name, row, x)
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		return append(b, ']'), nil
	}
	return nil, fmt.Errorf("column %q: unsupported type %s", c.Name, c.Type)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping as encoding/json does without its
// HTML escaping: quotes, backslashes, control characters, U+2028 and U+2029; invalid UTF-8
// becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONValue appends a JSON tree (map[string]any with sorted keys, []any, string, int64,
// float64, bool, nil) with the same conventions as EncodeJSONLines.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%s has no JSON form", pyfmt.Float(x))
		}
		return append(b, pyfmt.Float(x)...), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kind is the JSON type of a decoded cell.
type kind uint8

const (
	kindNull kind = iota
	kindString
	kindInt   // a number written without fraction or exponent
	kindFloat // any other number
	kindBool
	kindJSON // an object or a list, kept as compact JSON text
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindString:
		return "string"
	case kindInt, kindFloat:
		return "number"
	case kindBool:
		return "bool"
	}
	return "object or list"
}

// cell is one decoded value: text is a string's value, a number's text or an object's JSON.
type cell struct {
	kind kind
	text string
	b    bool
}

func (c cell) describe() string {
	switch c.kind {
	case kindNull:
		return "null"
	case kindString:
		return "string " + strconv.Quote(clip(c.text))
	case kindInt, kindFloat:
		return "number " + clip(c.text)
	case kindBool:
		return strconv.FormatBool(c.b)
	}
	return "JSON " + clip(c.text)
}

// maxQuote bounds how much of a value an error quotes.
const maxQuote = 80

func clip(s string) string {
	if len(s) <= maxQuote {
		return s
	}
	return s[:maxQuote] + "…"
}

// DecodeJSONLines reads JSON lines (one object per row, column name → value) into a frame,
// with the rules of the package documentation. schema holds the columns whose types are
// fixed (the group the lines were made from); it may be nil. Errors name the line (1-based),
// and for values that do not fit, the row (0-based) and the column.
func DecodeJSONLines(data []byte, schema *frame.Frame) (*frame.Frame, error) {
	var (
		names []string            // the first row's keys, in order
		index map[string]int      // key → position in names
		cells [][]cell            // per key, one cell per row
		lines []int               // per row, its line number
		seen  = map[string]bool{} // keys of the current row
	)
	line := 0
	for len(data) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			text, data = data, nil
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		row := len(lines)
		lines = append(lines, line)
		clear(seen)
		err := decodeObject(text, func(key string, c cell) error {
			if seen[key] {
				return fmt.Errorf("duplicate key %q", key)
			}
			seen[key] = true
			if row == 0 {
				if key == "" {
					return errors.New("empty key: a column needs a name")
				}
				if index == nil {
					index = map[string]int{}
				}
				index[key] = len(names)
				names = append(names, key)
				cells = append(cells, nil)
			}
			i, ok := index[key]
			if !ok {
				return fmt.Errorf("key %q is not in the first row (line %d): every row must have the same keys", key, lines[0])
			}
			cells[i] = append(cells[i], c)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(seen) != len(names) {
			for _, n := range names {
				if !seen[n] {
					return nil, fmt.Errorf("line %d: no value for %q, which the first row (line %d) has: every row must have the same keys", line, n, lines[0])
				}
			}
		}
	}

	n := len(lines)
	if n == 0 {
		return emptyLike(schema), nil
	}
	out := frame.New(n)
	put := func(i int, fixed *frame.Column) error {
		var (
			col *frame.Column
			err error
		)
		if fixed != nil {
			col, err = convertColumn(names[i], fixed.Type, cells[i], lines)
		} else {
			col, err = inferColumn(names[i], cells[i], lines)
		}
		if err != nil {
			return err
		}
		return out.Put(col)
	}
	done := make([]bool, len(names))
	if schema != nil {
		for _, c := range schema.Columns() {
			if i, ok := index[c.Name]; ok {
				if err := put(i, c); err != nil {
					return nil, err
				}
				done[i] = true
			}
		}
	}
	for i := range names {
		if !done[i] {
			if err := put(i, nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// emptyLike is a frame of zero rows with schema's columns.
func emptyLike(schema *frame.Frame) *frame.Frame {
	out := frame.New(0)
	if schema != nil {
		for _, c := range schema.Columns() {
			_ = out.Put(frame.NewColumn(c.Name, c.Type, 0)) // zero rows: lengths match
		}
	}
	return out
}

// decodeObject decodes one line holding one JSON object, calling field for each key in order.
func decodeObject(text []byte, field func(key string, c cell) error) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object, got %s", describeToken(tok))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok { // cannot happen: the decoder only returns strings for keys
			return fmt.Errorf("invalid JSON: want a key, got %s", describeToken(tok))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("invalid JSON: value of %q: %w", key, err)
		}
		c, err := decodeCell(raw)
		if err != nil {
			return fmt.Errorf("value of %q: %w", key, err)
		}
		if err := field(key, c); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("invalid JSON after the object: %w", err)
		}
		return fmt.Errorf("more than one JSON value on the line (then %s)", describeToken(tok))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch x := tok.(type) {
	case json.Delim:
		if x == '[' {
			return "a list"
		}
		return fmt.Sprintf("%q", string(x))
	case string:
		return "string " + strconv.Quote(clip(x))
	case json.Number:
		return "number " + clip(string(x))
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// decodeCell classifies one raw JSON value, which the decoder has checked.
func decodeCell(raw json.RawMessage) (cell, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return cell{}, errors.New("empty value")
	}
	switch raw[0] {
	case 'n':
		return cell{kind: kindNull}, nil
	case 't', 'f':
		return cell{kind: kindBool, b: raw[0] == 't'}, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return cell{}, err
		}
		return cell{kind: kindString, text: s}, nil
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return cell{}, err
		}
		return cell{kind: kindJSON, text: b.String()}, nil
	}
	if bytes.ContainsAny(raw, ".eE") {
		return cell{kind: kindFloat, text: string(raw)}, nil
	}
	return cell{kind: kindInt, text: string(raw)}, nil
}

// convertColumn builds a column of a fixed type from its cells.
func convertColumn(name string, t frame.Type, cells []cell, lines []int) (*frame.Column, error) {
	col := frame.NewColumn(name, t, len(cells))
	for row, c := range cells {
		if c.kind == kindNull {
			col.SetNull(row)
			continue
		}
		var err error
		switch t {
		case frame.String:
			if c.kind != kindString && c.kind != kindJSON {
				err = errWant
			} else {
				col.Strings[row] = c.text
			}
		case frame.Int:
			col.Ints[row], err = toInt(c)
		case frame.Float:
			col.Floats[row], err = toFloat(c)
		case frame.Bool:
			if c.kind != kindBool {
				err = errWant
			} else {
				col.Bools[row] = c.b
			}
		case frame.Vector:
			if c.kind != kindJSON || !strings.HasPrefix(c.text, "[") {
				err = errWant
			} else {
				err = json.Unmarshal([]byte(c.text), &col.Vectors[row])
			}
		default:
			return nil, fmt.Errorf("column %q: unsupported type %s", name, t)
		}
		if err != nil {
			msg := fmt.Sprintf("want %s, got %s", t, c.describe())
			if !errors.Is(err, errWant) {
				msg += ": " + err.Error()
			}
			return nil, fmt.Errorf("row %d (line %d), column %q: %s", row, lines[row], name, msg)
		}
	}
	return col, nil
}

var errWant = errors.New("wrong type")

// toInt accepts integral numbers that fit an int64, written as integers or not (3, 3.0, 3e2).
func toInt(c cell) (int64, error) {
	switch c.kind {
	case kindInt:
		i, err := strconv.ParseInt(c.text, 10, 64)
		if err != nil {
			return 0, errors.New("out of the int64 range")
		}
		return i, nil
	case kindFloat:
		f, err := strconv.ParseFloat(c.text, 64)
		if err != nil || f != math.Trunc(f) {
			return 0, errors.New("not an integer")
		}
		if f < -(1<<63) || f >= 1<<63 {
			return 0, errors.New("out of the int64 range")
		}
		return int64(f), nil
	}
	return 0, errWant
}

func toFloat(c cell) (float64, error) {
	if c.kind != kindInt && c.kind != kindFloat {
		return 0, errWant
	}
	f, err := strconv.ParseFloat(c.text, 64)
	if err != nil {
		return 0, errors.New("out of the float64 range")
	}
	return f, nil
}

// inferColumn builds a new column, typed by its values.
func inferColumn(name string, cells []cell, lines []int) (*frame.Column, error) {
	// Values of one group can share a column: strings with objects and lists (as JSON text),
	// ints with floats.
	group := func(c cell) kind {
		switch c.kind {
		case kindJSON:
			return kindString
		case kindFloat:
			return kindInt
		}
		return c.kind
	}
	first := -1
	hasFloat := false
	for row, c := range cells {
		if c.kind == kindNull {
			continue
		}
		if first < 0 {
			first = row
		} else if group(c) != group(cells[first]) {
			return nil, fmt.Errorf("new column %q mixes value types: %s on line %d, %s on line %d",
				name, cells[first].kind, lines[first], c.kind, lines[row])
		}
		if c.kind == kindFloat {
			hasFloat = true
		} else if c.kind == kindInt {
			if _, err := strconv.ParseInt(c.text, 10, 64); err != nil {
				hasFloat = true // beyond int64: a float, as Python's float() would read it
			}
		}
	}
	t := frame.String
	if first >= 0 {
		switch group(cells[first]) {
		case kindInt:
			t = frame.Int
			if hasFloat {
				t = frame.Float
			}
		case kindBool:
			t = frame.Bool
		}
	}
	return convertColumn(name, t, cells, lines)
}
