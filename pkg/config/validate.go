package config

import (
	"fmt"
	"slices"
	"strings"
)

// Validate checks a Config assembled in code rather than parsed, with the checks Parse makes
// across columns (names, references, dependency cycles, what samplers may read, model aliases
// of LLM columns), plus that each column's Params match its sampler type and that LLM columns
// have their LLM settings, and recomputes Order. It checks Processors, Models and Providers as
// Parse does and recomputes the implicit DefaultDropColumns processor. Inputs must already be
// set, as Parse sets them. Like Parse it returns every problem, joined with errors.Join.
func (c *Config) Validate() error {
	p := &problems{}
	broken := map[*Column]bool{}
	for i, col := range c.Columns {
		if col == nil {
			p.add("", fmt.Sprintf("columns[%d]", i), "nil column")
			continue
		}
		if strings.TrimSpace(col.Name) == "" {
			p.add("", fmt.Sprintf("columns[%d].name", i), "required")
		}
		switch {
		case col.Type == TypeExpression, col.Type == TypeSeedDataset, col.Type == TypeValidation, col.Type == TypeEmbedding:
		case col.Type == TypeSampler:
			broken[col] = !checkSamplerColumn(col, p)
		case IsLLM(col.Type):
			before := len(p.errs)
			checkLLM(col, p)
			broken[col] = len(p.errs) != before
		default:
			p.add(col.Name, "column_type", "%s", unknownMsg("column_type", col.Type, columnTypes))
			broken[col] = true
		}
	}
	var cols []*Column
	for _, col := range c.Columns {
		if col != nil {
			cols = append(cols, col)
		}
	}
	checkConstraints(c, p)
	order := validate(cols, broken, p)
	pbroken := map[*Processor]bool{}
	for i, proc := range c.Processors {
		if proc != nil && !proc.Implicit && !checkProcessor(proc, i, p) {
			pbroken[proc] = true
		}
	}
	procs := checkProcessors(c, c.Processors, pbroken, p)
	aliasless := checkModels(c.Models, p)
	checkProviders(c.Providers, p)
	checkModelRefs(cols, c.Models, aliasless, p)
	if err := p.err(); err != nil {
		return err
	}
	c.Order = order
	c.Processors = procs
	return nil
}

// validate makes the checks that span columns and returns the dependency order, or nil when
// there is a cycle. Columns in broken have problems reported already: they count as existing
// (a reference to one is not "unknown"), but what they are is not trusted for further checks,
// so one mistake gives one error.
func validate(cols []*Column, broken map[*Column]bool, p *problems) []string {
	byName := map[string]*Column{}
	seen := uniqueNames{}
	var names []string // unique names in config order
	for i, c := range cols {
		if c.Name == "" {
			continue // reported as a missing name
		}
		if msg := seen.repeated(c.Name, i, "column name", "columns"); msg != "" {
			p.add(c.Name, "name", "%s", msg)
			continue
		}
		byName[c.Name] = c
		names = append(names, c.Name)
	}

	sideOf := map[string]*Column{} // side column → its producer
	for _, name := range names {
		for _, side := range byName[name].SideColumns() {
			if other, taken := byName[side]; taken {
				p.add(other.Name, "name", "column %q has the name of a side column of %q (its %s); rename one", side, name,
					strings.TrimPrefix(side, name))
				continue
			}
			sideOf[side] = byName[name]
		}
	}

	deps := map[string][]string{} // column → the columns it reads
	for _, name := range names {
		c := byName[name]
		for _, in := range c.AllInputs() {
			field := inputField(c, in)
			target, known := byName[in]
			if producer := sideOf[in]; !known && producer != nil {
				target, known, in = producer, true, producer.Name // reading a side column is reading its producer
			}
			switch {
			case in == c.Name:
				p.add(c.Name, field, "column %q reads itself", in)
				continue
			case !known && p.seedUnknown:
				continue
			case !known:
				msg := fmt.Sprintf("unknown reference %q", in)
				if s := closest(in, names); s != "" {
					msg += fmt.Sprintf(": did you mean %q?", s)
				}
				p.add(c.Name, field, "%s", msg)
				continue
			}
			deps[name] = append(deps[name], in)
			if c.Type == TypeSampler && !broken[target] {
				checkSamplerInput(c, target, field, p)
			}
		}
	}
	return order(names, deps, byName, p)
}

// inputField is the key path that holds a column's reference to in, for error messages.
func inputField(c *Column, in string) string {
	if c.Skip != nil && slices.Contains(c.Skip.Inputs, in) && !slices.Contains(c.Inputs, in) {
		return "skip.when"
	}
	switch {
	case c.Type == TypeExpression:
		return "expr"
	case c.Type == TypeValidation:
		return "target_columns"
	case c.Type == TypeEmbedding:
		return "target_column"
	case IsLLM(c.Type):
		return promptField(c, in)
	case c.Type == TypeSampler:
		if r, ok := c.Params.(columnReader); ok {
			if key, col := r.reads(); col == in {
				return "params." + key
			}
		}
		for _, cp := range c.Conditional {
			if slices.Contains(cp.Inputs, in) {
				return fmt.Sprintf("conditional_params[%s]", cp.Condition)
			}
		}
	}
	return ""
}

// checkSamplerInput checks what a sampler reads. Samplers are all generated together, from
// scratch, before any other column exists, so they can only read other samplers, and each
// sampler type needs a particular kind of input.
func checkSamplerInput(c, target *Column, field string, p *problems) {
	if target.Type != TypeSampler {
		p.add(c.Name, field, "a sampler can only read sampler columns, and %q is a %s column", target.Name, target.Type)
		return
	}
	for _, sp := range append([]SamplerParams{c.Params}, conditionalParams(c)...) {
		r, ok := sp.(columnReader)
		if !ok {
			continue
		}
		if _, col := r.reads(); col != target.Name {
			continue
		}
		if msg := r.checkRead(target); msg != "" {
			p.add(c.Name, field, "%s", msg)
			return
		}
		if sub, ok := sp.(*SubcategoryParams); ok {
			missing, extra := sub.parentMismatch(target)
			for _, v := range missing {
				p.add(c.Name, "params.values", "no values for %q, a value of category column %q", v, target.Name)
			}
			for _, v := range extra {
				p.add(c.Name, "params.values."+v, "%q is not a value of category column %q", v, target.Name)
			}
		}
	}
}

// checkSamplerColumn checks a sampler column built in code as Parse checks one it reads: a
// known sampler type whose params (and conditional params) are of that type and obey its
// rules.
func checkSamplerColumn(col *Column, p *problems) bool {
	if _, known := samplers[col.SamplerType]; !known {
		p.add(col.Name, "sampler_type", "unknown sampler_type %q", col.SamplerType)
		return false
	}
	ok := true
	check := func(prefix string, params SamplerParams) {
		switch {
		case params == nil:
			p.add(col.Name, strings.TrimSuffix(prefix, "."), "required for sampler_type %s", col.SamplerType)
			ok = false
		case params.SamplerType() != col.SamplerType:
			p.add(col.Name, strings.TrimSuffix(prefix, "."), "want params of sampler_type %q, got %T", col.SamplerType, params)
			ok = false
		default:
			ok = checkParams(p, col.Name, prefix, params) && ok
		}
	}
	check("params.", col.Params)
	for _, c := range col.Conditional {
		check(fmt.Sprintf("conditional_params[%s].", c.Condition), c.Params)
	}
	return ok && checkConditionalOutputs(p, col)
}

// order sorts the columns topologically with Kahn's algorithm, always taking the earliest ready
// column in config order, so that the order is deterministic and as close to the config as the
// dependencies allow. Columns left over sit on or behind a cycle; each cycle is reported once,
// against its earliest column, and order returns nil.
func order(names []string, deps map[string][]string, byName map[string]*Column, p *problems) []string {
	pending := map[string]int{}
	readers := map[string][]string{}
	for _, n := range names {
		pending[n] = len(deps[n])
		for _, in := range deps[n] {
			readers[in] = append(readers[in], n)
		}
	}
	done := map[string]bool{}
	out := make([]string, 0, len(names))
	for len(out) < len(names) {
		next := ""
		for _, n := range names {
			if !done[n] && pending[n] == 0 {
				next = n
				break
			}
		}
		if next == "" {
			break
		}
		done[next] = true
		out = append(out, next)
		for _, r := range readers[next] {
			pending[r]--
		}
	}
	if len(out) == len(names) {
		return out
	}

	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	reported := map[string]bool{}
	for _, n := range names {
		if done[n] || reported[n] {
			continue
		}
		cycle := findCycle(n, deps, done)
		if cycle == nil || allOf(cycle, reported) {
			continue
		}
		// Start the cycle at its earliest column, so the same cycle always reads the same.
		first := 0
		for i, m := range cycle {
			reported[m] = true
			if index[m] < index[cycle[first]] {
				first = i
			}
		}
		cycle = append(cycle[first:], cycle[:first]...)
		cycle = append(cycle, cycle[0])
		c := byName[cycle[0]]
		p.add(c.Name, inputField(c, cycle[1]), "dependency cycle: %s (each column reads the next)", strings.Join(cycle, " -> "))
	}
	return nil
}

// findCycle walks from start along inputs that are not done. Every such column waits on one
// that is not done either, so the walk must come back to a column it has seen: the cycle.
func findCycle(start string, deps map[string][]string, done map[string]bool) []string {
	seen := map[string]int{}
	var path []string
	for cur := start; ; {
		if i, ok := seen[cur]; ok {
			return path[i:]
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := ""
		for _, in := range deps[cur] {
			if !done[in] {
				next = in
				break
			}
		}
		if next == "" {
			return nil // cannot happen: cur would have been done
		}
		cur = next
	}
}

func allOf(names []string, set map[string]bool) bool {
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return true
}
