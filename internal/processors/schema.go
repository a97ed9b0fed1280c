package processors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// ctxCheckEvery is how many rows schema_transform renders between checks of ctx.
const ctxCheckEvery = 256

// schemaTransform renders a template per row into a side dataset.
type schemaTransform struct {
	base
	keys []string // the template's top-level keys, sorted: the side dataset's columns
	tree map[string]any
	refs []string // the columns the templates read, sorted
	tpls map[string]*exec.Template
}

// leaf is a compiled string leaf of the template: it replaces the string in the compiled tree.
type leaf struct {
	path string // key path, for errors
	tpl  *exec.Template
}

func newSchemaTransform(b base, p *config.Processor) (*schemaTransform, error) {
	if len(p.Template) == 0 {
		return nil, fmt.Errorf("processor %q: schema_transform needs a template", p.Name)
	}
	s := &schemaTransform{base: b, keys: sortedKeys(p.Template)}
	refs := map[string]bool{}
	tree, err := compileTree(p.Template, "template", refs)
	if err != nil {
		return nil, fmt.Errorf("processor %q: %w", p.Name, err)
	}
	s.tree = tree.(map[string]any)
	for r := range refs {
		s.refs = append(s.refs, r)
	}
	slices.Sort(s.refs)
	return s, nil
}

// compileTree copies a template tree, replacing each string leaf by its compiled *leaf and
// adding the columns it reads to refs.
func compileTree(v any, at string, refs map[string]bool) (any, error) {
	switch x := v.(type) {
	case string:
		r, err := config.TemplateRefs(x)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid Jinja template: %w", at, err)
		}
		for _, name := range r {
			refs[name] = true
		}
		tpl, err := compile(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		return &leaf{path: at, tpl: tpl}, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = compileTree(e, fmt.Sprintf("%s[%d]", at, i), refs); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			var err error
			if out[k], err = compileTree(x[k], at+"."+k, refs); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// compile compiles one template with the expressions' environment. gonja is third-party
// code fed with user input: a panic becomes an error.
func compile(src string) (tpl *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template parser failed: %v", r)
		}
	}()
	tpl, err = jinja.Compile(src)
	if err != nil {
		// gonja's message repeats the source; keep the parser's message.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("compile: %s", err.Error())
	}
	return tpl, nil
}

// Process renders the template for every row of in into the side dataset FilesDir(name) and
// passes in through.
func (s *schemaTransform) Process(ctx context.Context, group int, in *frame.Frame) (Result, error) {
	side, err := s.render(ctx, in)
	if err != nil {
		return Result{}, s.fail(group, err)
	}
	return Result{Frame: in, Side: []SideOutput{{Dir: FilesDir(s.name), Frame: side}}}, nil
}

func (s *schemaTransform) render(ctx context.Context, in *frame.Frame) (*frame.Frame, error) {
	if in == nil {
		return nil, errors.New("nil frame")
	}
	cols := make([]*frame.Column, len(s.refs))
	for i, name := range s.refs {
		if cols[i] = in.Column(name); cols[i] == nil {
			return nil, fmt.Errorf("the template reads column %q, which the row group does not have", name)
		}
	}
	n := in.Len()
	out := make([]*frame.Column, len(s.keys))
	for i, k := range s.keys {
		out[i] = frame.NewColumn(k, frame.String, n)
	}
	// gonja copies the context's map into a fresh one per render, so one map serves every row.
	data := make(map[string]any, len(s.refs))
	tctx := exec.NewContext(data)
	var buf bytes.Buffer
	for row := range n {
		if row%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for i, c := range cols {
			data[s.refs[i]] = jinja.Value(c.Value(row))
		}
		for i, k := range s.keys {
			v, err := renderTree(s.tree[k], tctx, &buf)
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", row, err)
			}
			switch x := v.(type) {
			case nil:
				out[i].SetNull(row)
			case string:
				out[i].Strings[row] = x
			default:
				b, err := appendJSONValue(nil, x)
				if err != nil {
					return nil, fmt.Errorf("row %d: template.%s: %w", row, k, err)
				}
				out[i].Strings[row] = string(b)
			}
		}
	}
	side := frame.New(n)
	for _, c := range out {
		if err := side.Put(c); err != nil {
			return nil, err
		}
	}
	return side, nil
}

// renderTree renders the compiled leaves of v into a JSON tree.
func renderTree(v any, tctx *exec.Context, buf *bytes.Buffer) (any, error) {
	switch x := v.(type) {
	case *leaf:
		buf.Reset()
		if err := x.tpl.Execute(buf, tctx); err != nil {
			return nil, fmt.Errorf("%s: render: %w", x.path, err)
		}
		return buf.String(), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = renderTree(e, tctx, buf); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			var err error
			if out[k], err = renderTree(x[k], tctx, buf); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}
