package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/frame"
)

// WriteJSONLines writes one JSON object per record, keys in column order.
func WriteJSONLines(w io.Writer, recs []arrow.RecordBatch) error {
	for _, rec := range recs {
		f, err := frame.FromRecord(rec)
		if err != nil {
			return err
		}
		for i := range f.Len() {
			var b strings.Builder
			b.WriteByte('{')
			for j, c := range f.Columns() {
				if j > 0 {
					b.WriteByte(',')
				}
				k, _ := json.Marshal(c.Name)
				v, err := json.Marshal(c.Value(i))
				if err != nil {
					return fmt.Errorf("column %q: %w", c.Name, err)
				}
				b.Write(k)
				b.WriteByte(':')
				b.Write(v)
			}
			b.WriteString("}\n")
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteTable writes the records as an aligned table, cutting long cells so a row fits a line.
func WriteTable(w io.Writer, recs []arrow.RecordBatch, maxCell int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, rec := range recs {
		f, err := frame.FromRecord(rec)
		if err != nil {
			return err
		}
		if !header {
			var names []string
			for _, c := range f.Columns() {
				names = append(names, c.Name)
			}
			fmt.Fprintln(tw, strings.Join(names, "\t"))
			header = true
		}
		for i := range f.Len() {
			cells := make([]string, len(f.Columns()))
			for j, c := range f.Columns() {
				cells[j] = cell(c.Value(i), maxCell)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	return tw.Flush()
}

func cell(v any, max int) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "null"
	case string:
		s = x
	default:
		s = fmt.Sprint(x)
	}
	s = strings.Join(strings.Fields(s), " ") // newlines and tabs would break the table
	if r := []rune(s); max > 0 && len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}
