// Package config reads a dataset config in Data Designer's shorthand YAML shape, validates it and
// derives the column dependency graph. Everything a run needs to know about columns is decided
// here, before anything is published: a config that loads is one the engine can run.
package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Column types (Data Designer's `column_type`).
const (
	TypeSampler    = "sampler"
	TypeExpression = "expression"
)

// Config is a validated dataset config.
type Config struct {
	// Columns in the order the config lists them; that is the output column order.
	Columns []*Column
	// Order is every column name in a dependency order (inputs before readers), stable with
	// respect to the config order.
	Order []string
	// Raw is the config as a JSON-compatible tree, after the shorthand is unwrapped: what
	// builder_config.json stores and what the config hash covers.
	Raw map[string]any
	// Source is the config as JSON in the order of the file it was read from: what a process
	// that parses the config again (a worker, a resumed controller) is given, so that it sees
	// the same config, order included. Parse sets it; a Config built in code has none.
	Source []byte
	// Processors in config order, then the implicit DefaultDropColumns processor when
	// `drop: true` columns need one.
	Processors []*Processor
	// Models are the `model_configs` entries, in config order.
	Models []*Model
	// Seed is the `seed_config`, nil without one.
	Seed *SeedConfig
	// Tools are the `tool_configs`; MCPProviders the servers they name (rowforge reads these
	// from the config's `mcp_providers`, in Data Designer's shape).
	Tools        []*ToolConfig
	MCPProviders []*MCPProvider
	// Profilers are the judge-score profilers, run on the finished dataset.
	Profilers []*Profiler
	// Constraints are the `constraints`, in config order.
	Constraints []*Constraint
	// Providers are the config's own `model_providers`, in config order; a run resolves a
	// model's provider from these first (see Model.Provider).
	Providers []*Provider
}

// Column is one column of the dataset.
type Column struct {
	Name string
	Type string // TypeSampler, TypeExpression or an LLM type (IsLLM)
	Drop bool
	// Inputs are the columns this one reads, sorted and unique: template references of an
	// expression or of an LLM column's prompt and system_prompt (`{{ recipe.title }}` reads
	// recipe), `category` of a subcategory, `reference_column_name` of a timedelta.
	Inputs []string
	// Skip is the column's skip, nil without one. PropagateSkip (default true) skips a row
	// whose Inputs were skipped, as Data Designer's propagate_skip does.
	Skip          *Skip
	PropagateSkip bool
	// Output is the type of the generated values.
	Output frame.Type

	// Sampler columns.
	SamplerType string
	Params      SamplerParams // of SamplerType
	// Conditional are the conditional_params: rows whose condition holds draw with their
	// params instead of Params, the first that holds in Conditional's order.
	Conditional []*Conditional
	ConvertTo   string // "", "int", "float", "str", or a strftime format for datetime/timedelta

	// Expression columns.
	Expr  string
	DType frame.Type

	// Validation columns; nil otherwise.
	Validation *Validation
	// Embedding columns; nil otherwise (their model_alias is in LLM).
	Embedding *Embedding

	// LLM columns (IsLLM(Type)); nil otherwise.
	LLM *LLM
}

// AllInputs returns the columns c must come after: its Inputs and those its skip.when reads.
func (c *Column) AllInputs() []string {
	if c.Skip == nil || len(c.Skip.Inputs) == 0 {
		return c.Inputs
	}
	all := append(slices.Clone(c.Inputs), c.Skip.Inputs...)
	slices.Sort(all)
	return slices.Compact(all)
}

// Column returns the named column or nil.
func (c *Config) Column(name string) *Column {
	for _, col := range c.Columns {
		if col.Name == name {
			return col
		}
	}
	return nil
}

// Error is a problem with a config, named by the column (or "" for the config as a whole) and
// the field. Load and Validate return every problem found, joined with errors.Join; callers
// find them with errors.As. Problems of a processor have Column "" and a Field that names
// the processor: `processors[chat].template` (`processors[2].name` when it has no usable name).
type Error struct {
	Column string
	Field  string
	Msg    string
	Err    error // the cause, when there is one (a file that cannot be read)
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}
