package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Constraint types (Data Designer's `constraint_type`).
const (
	ConstraintScalar = "scalar_inequality"
	ConstraintColumn = "column_inequality"
)

// operators are the inequality operators; lt and gt are strict.
var operators = []string{"lt", "le", "gt", "ge"}

// Constraint is one entry of `constraints`: rows of a sampler column whose value breaks it are
// drawn again (rejection sampling), up to Data Designer's limit.
type Constraint struct {
	Type     string // ConstraintScalar or ConstraintColumn
	Target   string // target_column
	Operator string // lt, le, gt or ge
	Scalar   float64
	Column   string // the rhs column of a column inequality
	// Index is the constraint's position in `constraints`, for messages.
	Index int
}

// String names the constraint as messages do: `constraints[0] (age lt 65.0)`.
func (c *Constraint) String() string {
	rhs := c.Column
	if c.Type == ConstraintScalar {
		rhs = pyfmt.Float(c.Scalar)
	}
	return fmt.Sprintf("constraints[%d] (%s %s %s)", c.Index, c.Target, c.Operator, rhs)
}

// Holds reports whether lhs op rhs.
func (c *Constraint) Holds(cmp int) bool {
	switch c.Operator {
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	}
	return false
}

// parseConstraints decodes `constraints`. Data Designer's legacy shape has no constraint_type:
// a number, or a string that reads as a finite number, makes a scalar inequality, any other
// string a column inequality.
func parseConstraints(v any, p *problems) []*Constraint {
	var out []*Constraint
	for i, m := range sectionMappings(v, "constraints", "want a list of constraints", "want a constraint mapping", p) {
		key := fmt.Sprintf("constraints[%d]", i)
		before := len(p.errs)
		f := newFields(p, "", key+".", "key", m)
		c := &Constraint{Index: i}
		c.Target, _ = f.str("target_column", true)
		if op, ok := f.str("operator", true); ok {
			if !slices.Contains(operators, op) {
				f.errorf("operator", "%s", unknownMsg("operator", op, operators))
			}
			c.Operator = op
		}
		ct, hasType := f.str("constraint_type", false)
		rhs, hasRHS := f.get("rhs")
		if !hasType {
			ct = inferConstraintType(rhs, hasRHS)
		}
		c.Type = ct
		switch ct {
		case ConstraintScalar:
			if !hasRHS {
				f.errorf("rhs", "required")
				break
			}
			x, ok := scalarRHS(rhs)
			if !ok {
				f.errorf("rhs", "want a number for a scalar_inequality, got %s", describe(rhs))
			}
			c.Scalar = x
		case ConstraintColumn:
			s, ok := rhs.(string)
			switch {
			case !hasRHS:
				f.errorf("rhs", "required")
			case !ok:
				f.errorf("rhs", "want a column name for a column_inequality, got %s", describe(rhs))
			}
			c.Column = s
		default:
			f.errorf("constraint_type", "%s", unknownMsg("constraint_type", ct, []string{ConstraintScalar, ConstraintColumn}))
		}
		f.unknown()
		if len(p.errs) == before {
			out = append(out, c)
		}
	}
	return out
}

func inferConstraintType(rhs any, has bool) string {
	if s, ok := rhs.(string); has && ok {
		if x, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return ConstraintColumn
		}
	}
	return ConstraintScalar
}

// scalarRHS reads a scalar rhs: a number, or a string holding a finite one (`rhs: "65"`).
func scalarRHS(v any) (float64, bool) {
	if x, ok := number(v); ok {
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	if s, ok := v.(string); ok {
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return x, err == nil && !math.IsInf(x, 0) && !math.IsNaN(x)
	}
	return 0, false
}

// checkConstraints checks what constraints compare: sampler columns (samplers are drawn
// before anything else exists), numbers against a scalar, numbers against numbers or instants
// against instants. A column inequality orders its rhs before its target, which is drawn again
// against the rhs's fixed values.
func checkConstraints(cfg *Config, p *problems) {
	for _, c := range cfg.Constraints {
		key := fmt.Sprintf("constraints[%d]", c.Index)
		target := constrained(cfg, c.Target, key+".target_column", p)
		if c.Type == ConstraintColumn {
			rhs := constrained(cfg, c.Column, key+".rhs", p)
			switch {
			case target == nil || rhs == nil:
			case rhs == target:
				p.add("", key+".rhs", "a column inequality compares two columns, and %q is the target_column", c.Column)
			case comparable(target) == "" || comparable(target) != comparable(rhs):
				p.add("", key, "cannot compare %s column %q with %s column %q", kindName(target), target.Name, kindName(rhs), rhs.Name)
			default:
				target.Inputs = insertSorted(target.Inputs, rhs.Name)
			}
			continue
		}
		if target != nil && comparable(target) != "number" {
			p.add("", key, "a scalar_inequality needs a numeric column, and %q holds %s values", target.Name, kindName(target))
		}
	}
}

// constrained returns the sampler column a constraint names, or nil after reporting why not.
func constrained(cfg *Config, name, field string, p *problems) *Column {
	col := cfg.Column(name)
	switch {
	case col == nil:
		names := namesOf(cfg.Columns, func(c *Column) string { return c.Name })
		msg := fmt.Sprintf("unknown column %q", name)
		if s := closest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add("", field, "%s", msg)
	case col.Type != TypeSampler:
		p.add("", field, "constraints apply to sampler columns, and %q is a %s column", name, col.Type)
		return nil
	case col.Params == nil:
		return nil // its own problems are reported
	}
	return col
}

// comparable says what a sampler column's values are compared as: "number", "time" or "".
func comparable(c *Column) string {
	switch {
	case c.SamplerType == SamplerDatetime || c.SamplerType == SamplerTimedelta:
		return "time"
	case c.ConvertTo == "str":
		return ""
	case c.Output == frame.Int || c.Output == frame.Float:
		return "number"
	}
	return ""
}

func kindName(c *Column) string {
	switch comparable(c) {
	case "time":
		return "datetime"
	case "number":
		return "numeric"
	}
	return "text"
}

func insertSorted(list []string, s string) []string {
	i, found := slices.BinarySearch(list, s)
	if found {
		return list
	}
	return slices.Insert(list, i, s)
}
