package scheduler

import (
	"context"

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
