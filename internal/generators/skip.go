package generators

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// withSkip gives g the column's skip and propagate_skip: g reads the columns skip.when reads
// too (they must be done before its rows are decided), and propagation follows the column's
// own Inputs only, as Data Designer's required_columns.
func withSkip(g *scheduler.Generator, col *config.Column) (*scheduler.Generator, error) {
	g.Inputs = slices.Clone(col.AllInputs())
	if col.Skip == nil && !col.PropagateSkip {
		return g, nil
	}
	sk := &scheduler.Skip{Propagate: col.PropagateSkip, Required: slices.Clone(col.Inputs)}
	if col.Skip != nil {
		tpl, err := jinja.CompileStrict(col.Skip.When)
		if err != nil {
			return nil, fmt.Errorf("column %q: skip.when: %w", col.Name, err)
		}
		sk.When = skipWhen(tpl, col.Skip.Inputs)
		sk.Value = col.Skip.Value
		if v := col.Skip.Value; v != nil && g.Type == frame.String {
			sk.Value = pyfmt.Str(v)
		}
	}
	g.Skip = sk
	return g, nil
}

// skipWhen renders a skip.when template for a row and reads the result as Data Designer does:
// as a Python literal when it is one, tested for truth. A template that fails to render skips
// the row (Data Designer treats the failure as truthy, so that a row it cannot judge costs no
// model call).
func skipWhen(tpl *exec.Template, inputs []string) func(map[string]any) bool {
	return func(row map[string]any) bool {
		data := make(map[string]any, len(inputs))
		for _, in := range inputs {
			data[in] = jinja.Value(row[in])
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, exec.NewContext(data)); err != nil {
			return true
		}
		return truthy(buf.String())
	}
}

// truthy is Python's truth of ast.literal_eval(s), or of s itself when it is no literal.
func truthy(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' {
		return true // literal_eval refuses leading whitespace: s stays a non-empty string
	}
	t := strings.TrimRight(s, " \t\r\n")
	switch t {
	case "True":
		return true
	case "False", "None":
		return false
	}
	if len(t) >= 2 && (t[0] == '\'' || t[0] == '"') && t[len(t)-1] == t[0] {
		return len(t) > 2 // a quoted string: true unless empty
	}
	if isPyNumber(t) {
		f, _ := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
		return f != 0
	}
	if len(t) >= 2 {
		open, close := t[0], t[len(t)-1]
		if (open == '[' && close == ']') || (open == '(' && close == ')') || (open == '{' && close == '}') {
			return strings.TrimSpace(t[1:len(t)-1]) != ""
		}
	}
	return true
}

// isPyNumber reports whether s is a Python int or float literal, sign included (nan and inf
// are names in Python, not literals).
func isPyNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	digits := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == '_':
		case (c == 'e' || c == 'E') && digits && i+1 < len(s):
		case (c == '+' || c == '-') && i > 0 && (s[i-1] == 'e' || s[i-1] == 'E'):
		default:
			return false
		}
	}
	if !digits {
		return false
	}
	_, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	return err == nil
}
