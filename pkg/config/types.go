// Package config reads a dataset config in Data Designer's shorthand YAML shape, validates it and
// derives the column dependency graph. Everything a run needs to know about columns is decided
// here, before anything is published: a config that loads is one the engine can run.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Column types (Data Designer's `column_type`).
const (
	TypeSampler    = "sampler"
	TypeExpression = "expression"
)

// Sampler types (Data Designer's `sampler_type`).
const (
	SamplerUUID        = "uuid"
	SamplerCategory    = "category"
	SamplerSubcategory = "subcategory"
	SamplerUniform     = "uniform"
	SamplerGaussian    = "gaussian"
	SamplerBernoulli   = "bernoulli"
	SamplerBinomial    = "binomial"
	SamplerPoisson     = "poisson"
	SamplerDatetime    = "datetime"
	SamplerTimedelta   = "timedelta"
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
	// Processors in config order, then the implicit DefaultDropColumns processor when
	// `drop: true` columns need one.
	Processors []*Processor
	// Models are the `model_configs` entries, in config order.
	Models []*Model
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
	// Output is the type of the generated values.
	Output frame.Type

	// Sampler columns.
	SamplerType string
	Params      any    // one of the *XxxParams types below
	ConvertTo   string // "", "int", "float", "str", or a strftime format for datetime/timedelta

	// Expression columns.
	Expr  string
	DType frame.Type

	// LLM columns (IsLLM(Type)); nil otherwise.
	LLM *LLM
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

// UUIDParams: `prefix`, `short_form` (first 8 characters), `uppercase`.
type UUIDParams struct {
	Prefix    string
	ShortForm bool
	Uppercase bool
}

// CategoryParams: `values` (str, int or float), `weights` normalized to sum 1 (nil: uniform).
type CategoryParams struct {
	Values  []any // string, int64 or float64, as the YAML gave them
	Weights []float64
}

// SubcategoryParams: `category` (the parent column) and `values` (parent value → choices).
// Parent values are keyed by their string form, as Data Designer's JSON normalization does.
type SubcategoryParams struct {
	Category string
	Values   map[string][]any
}

// UniformParams: `low`, `high`, `decimal_places`.
type UniformParams struct {
	Low, High     float64
	DecimalPlaces *int
}

// GaussianParams: `mean`, `stddev`, `decimal_places`.
type GaussianParams struct {
	Mean, Stddev  float64
	DecimalPlaces *int
}

// BernoulliParams: `p` in [0, 1].
type BernoulliParams struct{ P float64 }

// BinomialParams: `n` ≥ 0, `p` in [0, 1].
type BinomialParams struct {
	N int
	P float64
}

// PoissonParams: `mean` > 0.
type PoissonParams struct{ Mean float64 }

// DatetimeParams: `start`, `end` (exclusive), `unit` (one of Y M D h m s; default D).
type DatetimeParams struct {
	Start, End time.Time
	Unit       string
}

// TimedeltaParams: `dt_min` ≥ 0, `dt_max` > dt_min, `reference_column_name` (a datetime
// column), `unit` (one of D h m s; default D). Values are the reference plus the delta.
type TimedeltaParams struct {
	DtMin, DtMax        int
	ReferenceColumnName string
	Unit                string
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
