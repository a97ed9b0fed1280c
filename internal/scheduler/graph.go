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
	height map[string]int          // generator → its Height
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
	g.height = make(map[string]int, len(g.gens))
	for i := len(g.gens) - 1; i >= 0; i-- { // reverse topological order: every reader's height is known
		gen := g.gens[i]
		h := 0
		for _, d := range g.down[gen.Name] {
			h = max(h, g.height[d.Name]+1)
		}
		g.height[gen.Name] = h
	}
	return g, nil
}

// Height is how much of a row still waits on column's cell: the length of the longest chain of
// generated columns that read it, directly or not (0 when no column reads it). The scheduler
// starts the tasks of greater height first (see readyQueue).
func (g *Graph) Height(column string) int { return g.height[column] }

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
