package scheduler

import (
	"fmt"
	"strings"
)

// Graph is the static dependency graph of the generated columns of a run. Seed columns arrive
// materialized with the group, so they are inputs only.
type Graph struct {
	seeds  map[string]bool
	gens   []*Generator // topological order
	byName map[string]*Generator
	down   map[string][]*Generator // column → generators that read it
	sideOf map[string]*Generator   // side column → the generator that writes it
	depth  map[string]int          // generator → its Depth
}

// NewGraph checks that every input is a seed column or another generator and that there is no
// cycle. The config package reports these problems to users first; here they are programming
// errors, but the graph must not trust its caller.
func NewGraph(seedColumns []string, gens []*Generator) (*Graph, error) {
	g := &Graph{seeds: map[string]bool{}, byName: map[string]*Generator{}, down: map[string][]*Generator{},
		sideOf: map[string]*Generator{}}
	for _, s := range seedColumns {
		g.seeds[s] = true
	}
	for _, gen := range gens {
		if (gen.Cell == nil) == (gen.Column == nil) {
			return nil, fmt.Errorf("generator %q: exactly one of Cell and Column must be set", gen.Name)
		}
		if g.seeds[gen.Name] || g.byName[gen.Name] != nil {
			return nil, fmt.Errorf("generator %q: duplicate column", gen.Name)
		}
		g.byName[gen.Name] = gen
	}
	for _, gen := range gens {
		if len(gen.Side) > 0 && gen.Cell == nil {
			return nil, fmt.Errorf("generator %q: only a cell generator writes side columns", gen.Name)
		}
		for _, side := range gen.Side {
			if g.seeds[side] || g.byName[side] != nil || g.sideOf[side] != nil {
				return nil, fmt.Errorf("generator %q: side column %q is another column's name", gen.Name, side)
			}
			g.sideOf[side] = gen
		}
	}
	for _, gen := range gens {
		for _, in := range gen.Inputs {
			if !g.seeds[in] && g.byName[in] == nil && g.sideOf[in] == nil {
				return nil, fmt.Errorf("generator %q: unknown input %q", gen.Name, in)
			}
			g.down[g.resolve(in)] = append(g.down[g.resolve(in)], gen)
		}
	}
	// Kahn's algorithm, stable in the given order.
	indeg := map[string]int{}
	for _, gen := range gens {
		for _, in := range gen.Inputs {
			if !g.seeds[in] {
				indeg[gen.Name]++
			}
		}
	}
	done := map[string]bool{}
	for len(g.gens) < len(gens) {
		progressed := false
		for _, gen := range gens {
			if done[gen.Name] || indeg[gen.Name] > 0 {
				continue
			}
			done[gen.Name] = true
			g.gens = append(g.gens, gen)
			for _, d := range g.down[gen.Name] {
				indeg[d.Name]--
			}
			progressed = true
		}
		if !progressed {
			var left []string
			for _, gen := range gens {
				if !done[gen.Name] {
					left = append(left, gen.Name)
				}
			}
			return nil, fmt.Errorf("dependency cycle among %s", strings.Join(left, ", "))
		}
	}
	g.depth = make(map[string]int, len(g.gens))
	for _, gen := range g.gens { // topological order: every input's depth is known
		d := 0
		for _, in := range gen.Inputs {
			if up := g.resolve(in); !g.seeds[up] {
				d = max(d, g.depth[up]+1)
			}
		}
		g.depth[gen.Name] = d
	}
	return g, nil
}

// Depth is how far along a row is once column's cell is ready: the length of the longest chain
// of generated columns leading to column (0 when it reads only seed columns). The scheduler
// serves deeper tasks first.
func (g *Graph) Depth(column string) int { return g.depth[column] }

// Generators returns the generators in a dependency order.
func (g *Graph) Generators() []*Generator { return g.gens }

// resolve names the column whose completion makes in ready: its generator for a side column.
func (g *Graph) resolve(in string) string {
	if gen := g.sideOf[in]; gen != nil {
		return gen.Name
	}
	return in
}

// IsSeed reports whether name is a seed column.
func (g *Graph) IsSeed(name string) bool { return g.seeds[name] }
