package seeddata

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/rowforge/rowforge/pkg/config"
)

// jsonTable is a JSON seed: one object per line (.jsonl, and .json as Data Designer writes
// it), or one array of objects (.json). Its schema is inferred from the first objects
// (nested objects and lists keep their shape and reach templates as JSON); it is then read
// with Arrow's JSON reader, once at open to count and check every row, and again for each
// scan.
type jsonTable struct {
	path   string
	schema *arrow.Schema
	mixed  map[string]bool // columns read as text though they hold other scalars too
	cols   []config.SeedColumn
	n      int64
}

func openJSON(ctx context.Context, path string) (table, error) {
	schema, mixed, err := inferJSON(path)
	if err != nil {
		return nil, err
	}
	t := &jsonTable{path: path, schema: schema, mixed: mixed, cols: schemaColumns(schema)}
	if t.n, err = countRows(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// openObjects returns a reader of the file's objects, one after the other, whether the file
// holds them one per line or in one array.
func openObjects(path string) (io.Reader, io.Closer, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(fh)
	for {
		b, err := br.Peek(1)
		if err != nil { // empty or whitespace only: no objects
			return br, fh, nil
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
			continue
		case 0xEF: // a UTF-8 byte order mark
			if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
				_, _ = br.Discard(3)
				continue
			}
		case '[':
			_, _ = br.ReadByte()
			return &arrayElements{r: br}, fh, nil
		}
		return br, fh, nil
	}
}

// arrayElements reads the elements of a JSON array whose '[' was read, without the commas
// between them and the closing ']', so that a stream decoder sees one value after another.
type arrayElements struct {
	r       *bufio.Reader
	depth   int
	inStr   bool
	escaped bool
	done    bool
}

func (a *arrayElements) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && !a.done {
		c, err := a.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case a.inStr:
			switch {
			case a.escaped:
				a.escaped = false
			case c == '\\':
				a.escaped = true
			case c == '"':
				a.inStr = false
			}
		case c == '"':
			a.inStr = true
		case c == '{' || c == '[':
			a.depth++
		case c == '}' || c == ']':
			if a.depth == 0 { // the array's own ']'
				a.done = true
				continue
			}
			a.depth--
		case c == ',' && a.depth == 0:
			c = '\n'
		}
		p[n] = c
		n++
	}
	if n == 0 && a.done {
		return 0, io.EOF
	}
	return n, nil
}

// shape is what the first objects say of a value: its kind and, for objects and lists, the
// shape of what they hold.
type shape struct {
	kind   valueKind // kindNone while only nulls were seen; kindString also for a conflict
	mixed  bool      // text and other scalars were seen: read as text (see stringify)
	object bool
	list   bool
	fields map[string]*shape
	order  []string // field names, in the order first seen
	elem   *shape
}

func (s *shape) add(v any) error {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		if s.kind != kindNone && !s.object {
			return errors.New("holds both objects and other values")
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // Go maps forget the order; first-seen order is kept across objects
		if err := s.addObject(x, keys); err != nil {
			return err
		}
	case []any:
		if s.kind != kindNone && !s.list {
			return errors.New("holds both lists and other values")
		}
		s.kind, s.list = kindString, true
		if s.elem == nil {
			s.elem = &shape{}
		}
		for _, e := range x {
			if err := s.elem.add(e); err != nil {
				return fmt.Errorf("[] %w", err)
			}
		}
	default:
		if s.object || s.list {
			return errors.New("holds both objects or lists and other values")
		}
		var k valueKind
		switch y := x.(type) {
		case json.Number:
			k = kindFloat
			if _, err := y.Int64(); err == nil {
				k = kindInt
			}
		case bool:
			k = kindBool
		default:
			k = kindString
		}
		if w := s.kind.widen(k); w == kindString && (k != kindString || (s.kind != kindString && s.kind != kindNone)) {
			s.mixed = true
			s.kind = w
		} else {
			s.kind = w
		}
	}
	return nil
}

// addObject adds an object's fields in the order of keys: the file's order for a top-level
// object (a Go map forgets it), so that the seed's columns come in the order the file writes
// them; sorted for nested ones.
func (s *shape) addObject(obj map[string]any, keys []string) error {
	s.kind, s.object = kindString, true
	if s.fields == nil {
		s.fields = map[string]*shape{}
	}
	for _, k := range keys {
		f, ok := s.fields[k]
		if !ok {
			f = &shape{}
			s.fields[k] = f
			s.order = append(s.order, k)
		}
		if err := f.add(obj[k]); err != nil {
			return fmt.Errorf("%s %w", k, err)
		}
	}
	return nil
}

// objectKeys returns the keys of a JSON object in the order it writes them.
func objectKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return keys
		}
		if ks, ok := k.(string); ok {
			keys = append(keys, ks)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

func (s *shape) arrowType() arrow.DataType {
	switch {
	case s.object:
		fields := make([]arrow.Field, len(s.order))
		for i, k := range s.order {
			fields[i] = arrow.Field{Name: k, Type: s.fields[k].arrowType(), Nullable: true}
		}
		return arrow.StructOf(fields...)
	case s.list:
		return arrow.ListOf(s.elem.arrowType())
	}
	return s.kind.arrowType()
}

// inferJSON infers the schema of a JSON seed from its first objects, and the columns that mix
// text with other scalars (read as text, as DuckDB reads them).
func inferJSON(path string) (*arrow.Schema, map[string]bool, error) {
	r, c, err := openObjects(path)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	dec := json.NewDecoder(r)
	top := &shape{}
	n := 0
	for ; n < inferRows; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s: object %d: not valid JSON: %w", path, n+1, err)
		}
		vd := json.NewDecoder(bytes.NewReader(raw))
		vd.UseNumber()
		var obj any
		if err := vd.Decode(&obj); err != nil {
			return nil, nil, fmt.Errorf("%s: object %d: not valid JSON: %w", path, n+1, err)
		}
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: object %d: want an object per row (orient=records), got %s", path, n+1, jsonKindName(obj))
		}
		if err := top.addObject(m, objectKeys(raw)); err != nil {
			return nil, nil, fmt.Errorf("%s: key %w", path, err)
		}
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%s: the file holds no rows", path)
	}
	mixed := map[string]bool{}
	for k, f := range top.fields {
		if f.mixed {
			mixed[k] = true
		}
	}
	st := top.arrowType().(*arrow.StructType)
	return arrow.NewSchema(st.Fields(), nil), mixed, nil
}

// stringify hands Arrow's reader the objects with the values of the mixed columns as text
// (2 becomes "2"), which a string column takes.
type stringify struct {
	dec  *json.Decoder
	cols map[string]bool
	buf  bytes.Buffer
	err  error
}

func (s *stringify) Read(p []byte) (int, error) {
	for s.buf.Len() == 0 {
		if s.err != nil {
			return 0, s.err
		}
		var obj map[string]json.RawMessage
		if err := s.dec.Decode(&obj); err != nil {
			s.err = err
			continue
		}
		for k := range s.cols {
			if raw, ok := obj[k]; ok && len(raw) > 0 && raw[0] != '"' && string(raw) != "null" {
				obj[k], _ = json.Marshal(string(raw))
			}
		}
		b, err := json.Marshal(obj)
		if err != nil {
			s.err = err
			continue
		}
		s.buf.Write(b)
		s.buf.WriteByte('\n')
	}
	return s.buf.Read(p)
}

func jsonKindName(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "map[string]interface {}")
}

func (t *jsonTable) Columns() []config.SeedColumn { return t.cols }
func (t *jsonTable) Len() int64                   { return t.n }

func (t *jsonTable) Scan(_ context.Context, from int64) (scanner, error) {
	r, c, err := openObjects(t.path)
	if err != nil {
		return nil, err
	}
	if len(t.mixed) > 0 {
		r = &stringify{dec: json.NewDecoder(r), cols: t.mixed}
	}
	jr := array.NewJSONReader(r, t.schema, array.WithChunk(batchRows))
	return readerScanner(t.path, t.cols, from, jr, c.Close), nil
}
