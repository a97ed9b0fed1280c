package scheduler

import (
	"github.com/rowforge/rowforge/pkg/frame"
)

// skips holds which cells of a group were skipped, for propagation: column → row → skipped.
// It is nil-safe: a graph where no column has a When cannot skip anything, and then nothing
// is allocated or looked up.
type skips struct {
	g    *Graph
	rows map[string][]bool
	n    int
}

func newSkips(g *Graph, n int) *skips {
	for _, gen := range g.gens {
		if gen.Skip != nil && gen.Skip.When != nil {
			return &skips{g: g, rows: map[string][]bool{}, n: n}
		}
	}
	return nil
}

// skip decides whether gen skips row, whose input values are in: propagation from a skipped
// required column first, then When.
func (s *skips) skip(gen *Generator, row int, in map[string]any) bool {
	if s == nil || gen.Skip == nil {
		return false
	}
	if gen.Skip.Propagate {
		for _, r := range gen.Skip.Required {
			r = s.g.resolve(r) // a side column is skipped with its generator
			if s.rows[r] != nil && s.rows[r][row] {
				return true
			}
		}
	}
	return gen.Skip.When != nil && gen.Skip.When(in)
}

// split divides a full column's live rows into those to generate and those skipped.
func (s *skips) split(gen *Generator, buf *frame.Frame, live []int) (generate, skipped []int) {
	if s == nil || gen.Skip == nil {
		return live, nil
	}
	cols := make([]*frame.Column, len(gen.Inputs))
	for i, name := range gen.Inputs {
		cols[i] = buf.Column(name)
	}
	in := make(map[string]any, len(gen.Inputs))
	for _, row := range live {
		for i, name := range gen.Inputs {
			in[name] = cols[i].Value(row)
		}
		if s.skip(gen, row, in) {
			skipped = append(skipped, row)
		} else {
			generate = append(generate, row)
		}
	}
	return generate, skipped
}

// mark records row of gen's column as skipped and writes the skip value into col, and null
// into its side columns (in buf).
func (s *skips) mark(gen *Generator, buf *frame.Frame, col *frame.Column, row int) error {
	if s.rows[gen.Name] == nil {
		s.rows[gen.Name] = make([]bool, s.n)
	}
	s.rows[gen.Name][row] = true
	for _, side := range gen.Side {
		buf.Column(side).SetNull(row)
	}
	if gen.Skip.Value == nil {
		col.SetNull(row)
		return nil
	}
	return col.Set(row, gen.Skip.Value)
}
