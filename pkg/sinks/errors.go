package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/wire"
)

var (
	// ErrEmptyGroup is returned for a group of zero rows. The controller never sends one (a group
	// whose rows were all dropped writes nothing, as in Data Designer), so receiving one is a bug
	// upstream; writing an empty file would hide it.
	ErrEmptyGroup = errors.New("sinks: empty group")
	// ErrInvalidGroup is returned for a negative group index or a nil record.
	ErrInvalidGroup = errors.New("sinks: invalid group")
	// ErrInvalidBuilderConfig is returned by Finalize when Metadata.BuilderConfig is not valid
	// JSON (an empty one included): builder_config.json is part of the artifact layout, and a
	// broken one would only fail later, in the user's loader.
	ErrInvalidBuilderConfig = errors.New("sinks: builder config is not valid JSON")
)

// ctxErr returns nil while ctx is live, else an error that wraps ctx.Err() (so errors.Is finds
// context.Canceled or DeadlineExceeded) and, when it differs, the cancellation cause, so a caller
// can tell a shutdown from a failure.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
		return fmt.Errorf("%w (cause: %w)", err, cause)
	}
	return err
}

// checkWrite applies the checks every sink makes at the entry of WriteGroup.
func checkWrite(ctx context.Context, group int, rec arrow.RecordBatch) error {
	if err := ctxErr(ctx); err != nil {
		return fmt.Errorf("sinks: write group %d: %w", group, err)
	}
	if group < 0 {
		return fmt.Errorf("sinks: write group %d: %w: negative index", group, ErrInvalidGroup)
	}
	if rec == nil {
		return fmt.Errorf("sinks: write group %d: %w: nil record", group, ErrInvalidGroup)
	}
	if rec.NumRows() == 0 {
		return fmt.Errorf("sinks: write group %d: %w", group, ErrEmptyGroup)
	}
	return nil
}

// checkFinalize applies the checks every sink makes at the entry of Finalize.
func checkFinalize(ctx context.Context, meta *wire.Metadata) error {
	if err := ctxErr(ctx); err != nil {
		return fmt.Errorf("sinks: finalize: %w", err)
	}
	if !json.Valid(meta.BuilderConfig) {
		return fmt.Errorf("sinks: finalize run %q: %w", meta.RunID, ErrInvalidBuilderConfig)
	}
	return nil
}

// cloneMeta returns a deep copy, so that a sink's stored metadata does not alias the caller's
// maps and slices.
func cloneMeta(m wire.Metadata) wire.Metadata {
	if m.FilePaths != nil {
		fp := make(map[string][]string, len(m.FilePaths))
		for k, v := range m.FilePaths {
			fp[k] = append([]string(nil), v...)
		}
		m.FilePaths = fp
	}
	if m.BuilderConfig != nil {
		m.BuilderConfig = append(json.RawMessage(nil), m.BuilderConfig...)
	}
	return m
}
