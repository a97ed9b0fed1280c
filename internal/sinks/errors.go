package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

var (
	// ErrEmptyGroup is returned for a group of zero rows. The controller never sends one (a group
	// whose rows were all dropped writes nothing, as in Data Designer), so receiving one is a bug
	// upstream; writing an empty file would hide it.
	ErrEmptyGroup = errors.New("sinks: empty group")
	// ErrInvalidGroup is returned for a negative group index or a nil record.
	ErrInvalidGroup = errors.New("sinks: invalid group")
	// ErrInvalidSide is returned for a side dataset no sink takes: a nil record, a Dir that is
	// not a folder of its own inside the dataset (see checkSideDir), or two sides of one group
	// with the same Dir. A side may hold zero rows.
	ErrInvalidSide = errors.New("sinks: invalid side dataset")
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

// checkWrite applies the checks every sink makes at the entry of WriteGroup. It checks the
// whole group, sides included, before a sink writes any of it.
func checkWrite(ctx context.Context, g lifecycle.Group) error {
	if err := ctxErr(ctx); err != nil {
		return fmt.Errorf("sinks: write group %d: %w", g.Index, err)
	}
	if g.Index < 0 {
		return fmt.Errorf("sinks: write group %d: %w: negative index", g.Index, ErrInvalidGroup)
	}
	if g.Main == nil {
		return fmt.Errorf("sinks: write group %d: %w: nil record", g.Index, ErrInvalidGroup)
	}
	if g.Main.NumRows() == 0 {
		return fmt.Errorf("sinks: write group %d: %w", g.Index, ErrEmptyGroup)
	}
	seen := make(map[string]bool, len(g.Sides))
	for _, s := range g.Sides {
		if err := checkSideDir(s.Dir); err != nil {
			return fmt.Errorf("sinks: write group %d: %w: folder %q %w", g.Index, ErrInvalidSide, s.Dir, err)
		}
		if seen[s.Dir] {
			return fmt.Errorf("sinks: write group %d: %w: folder %q appears twice", g.Index, ErrInvalidSide, s.Dir)
		}
		seen[s.Dir] = true
		if s.Rec == nil {
			return fmt.Errorf("sinks: write group %d: %w: folder %q has a nil record", g.Index, ErrInvalidSide, s.Dir)
		}
	}
	return nil
}

// checkSideDir accepts a side dataset's folder: a clean relative slash-separated path inside
// the dataset folder ("dropped-columns-parquet-files", "processors-files/summary"). It refuses
// paths that leave the dataset folder or are not in canonical form ("..", "/abs", "a/", "./a",
// "a//b", backslashes, control characters); folders with an element that starts with a dot,
// which loaders skip and where sinks keep their temp files and run marker; the main dataset's
// parquet-files folder and anything under it (a recursive load of it would mix the side in);
// and the names of the dataset's own files (metadata.json, builder_config.json). Every sink
// applies the same rule, so a group one sink takes, every sink takes.
func checkSideDir(dir string) error {
	switch {
	case dir == "":
		return errors.New("is empty")
	case !utf8.ValidString(dir) || strings.ContainsFunc(dir, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return errors.New("holds a control character, a backslash or invalid UTF-8")
	case path.IsAbs(dir):
		return errors.New("is an absolute path")
	case path.Clean(dir) != dir || !filepath.IsLocal(filepath.FromSlash(dir)):
		return errors.New("is not a clean relative path inside the dataset folder")
	}
	first, _, _ := strings.Cut(dir, "/")
	switch first {
	case ParquetFilesDir:
		return fmt.Errorf("is the main dataset's folder %s", ParquetFilesDir)
	case MetadataFile, BuilderConfigFile:
		return fmt.Errorf("is the name of the dataset's file %s", first)
	}
	for _, elem := range strings.Split(dir, "/") {
		if strings.HasPrefix(elem, ".") {
			return fmt.Errorf("has the hidden element %q", elem)
		}
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
