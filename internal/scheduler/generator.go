package scheduler

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Strategy says how a column is generated, as in Data Designer.
type Strategy uint8

const (
	// FullColumn generates every active row of the group in one call (expressions).
	FullColumn Strategy = iota
	// CellByCell generates one row per call, each an independent task (LLM columns).
	CellByCell
)

// Generator produces one column of a row group. Exactly one of Cell and Column is set; which one
// is the column's strategy. Generators are built once per run and called concurrently.
type Generator struct {
	Name   string
	Type   frame.Type
	Inputs []string // columns read; they must be complete for the row (cell) or group (column)

	// Cell returns the value of one row. row maps input column names to values and must not be
	// kept. An error drops the row; one that reports Retryable() true is retried first.
	Cell func(ctx context.Context, row map[string]any) (any, error)

	// Column fills the value of every row in rows (indexes into in) and returns the column,
	// of in.Len() rows. rowErrs[i] set drops row i. A non-nil err fails the whole task: a
	// *FatalError fails the group (and so the run); any other error drops every row of the group.
	Column func(ctx context.Context, in *frame.Frame, rows []int) (col *frame.Column, rowErrs map[int]error, err error)

	// Skip gates the column row by row; nil: never skipped, not even by propagation.
	Skip *Skip

	// Side names text columns a cell generator writes beside its own (an LLM column's trace).
	// Its Cell then returns []any: the cell's value, then one per side column (nil: null).
	// Other generators may read a side column; it is ready when its generator's cell is.
	Side []string
}

// Skip is Data Designer's skip and propagate_skip for one column. A skipped cell holds Value,
// makes no generator call, and is neither a failure nor a drop; the row stays.
type Skip struct {
	// Propagate skips a row for which a column of Required was skipped.
	Propagate bool
	Required  []string
	// When reports whether a row is skipped, given the values of the generator's Inputs; nil
	// when only propagation skips. Propagation is decided first, as in Data Designer.
	When func(row map[string]any) bool
	// Value is what a skipped cell holds; nil is null.
	Value any
}

// Strategy reports how g generates.
func (g *Generator) Strategy() Strategy {
	if g.Cell != nil {
		return CellByCell
	}
	return FullColumn
}

// FatalError is a generator failure that no retry or drop can absorb, such as a template that
// fails on every row: it fails the group with this error.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// ColumnError is an error of one column's generator. The scheduler names the column of every
// error that fails a group; a generator that already named it (its errors make sense on their
// own too) is not named twice.
type ColumnError struct {
	Column string
	Err    error
}

func (e *ColumnError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }
func (e *ColumnError) Unwrap() error { return e.Err }

// PanicError is a panic recovered while a group was generated: in a generator call, or in the
// scheduler's own loop (a skip expression, a Progress callback, folding a result in). It is a
// bug in rowforge or in the config's code, which another attempt would only repeat, so it fails
// the group. Its message names the panic; Stack, for the log, says where it happened.
type PanicError struct {
	Where string // what panicked: "generator", "scheduler"
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

// NewPanicError captures a recovered panic p, with the stack of the goroutine that recovers it:
// call it from the deferred function that called recover.
func NewPanicError(where string, p any) *PanicError {
	return &PanicError{Where: where, Value: p, Stack: debug.Stack()}
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s panicked: %v (a bug in rowforge or in the config's code; the worker's log has the stack)", e.Where, e.Value)
}

// Unwrap returns the panic's value when it is an error (a runtime error, say), so that
// errors.Is and errors.As see it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
