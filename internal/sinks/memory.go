package sinks

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Memory is an in-memory Sink for tests of the code that drives a sink (the controller, sinkd).
// It keeps the same contract as the real sinks (it passes the same conformance suite), so a test
// against it means something for them. Methods are safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	groups    map[int]arrow.RecordBatch
	sides     map[int][]lifecycle.Side
	meta      *wire.Metadata
	discarded bool
}

var _ lifecycle.Sink = (*Memory)(nil)

// NewMemory returns an empty Memory sink.
func NewMemory() *Memory {
	return &Memory{groups: map[int]arrow.RecordBatch{}, sides: map[int][]lifecycle.Side{}}
}

// WriteGroup retains g's records (the caller may release its own references) and stores them,
// replacing the records of a previous write of the same group. The Commit's Path is
// "memory/<group>" and its Sides map each Side.Dir to "memory/<group>/<dir>".
func (m *Memory) WriteGroup(ctx context.Context, g lifecycle.Group) (wire.Commit, error) {
	if err := checkWrite(ctx, g); err != nil {
		return wire.Commit{}, err
	}
	path := "memory/" + strconv.Itoa(g.Index)
	var sides []lifecycle.Side
	var paths map[string]string
	if len(g.Sides) > 0 {
		sides = slices.Clone(g.Sides)
		paths = make(map[string]string, len(sides))
	}
	for _, s := range sides {
		s.Rec.Retain()
		paths[s.Dir] = path + "/" + s.Dir
	}
	g.Main.Retain()
	m.mu.Lock()
	old, oldSides := m.groups[g.Index], m.sides[g.Index]
	m.groups[g.Index] = g.Main
	if sides != nil {
		m.sides[g.Index] = sides
	} else {
		delete(m.sides, g.Index)
	}
	m.mu.Unlock()
	// Released after the new records are retained: a group rewritten with its own records
	// must not free them.
	if old != nil {
		old.Release()
	}
	for _, s := range oldSides {
		s.Rec.Release()
	}
	return wire.Commit{Group: g.Index, Rows: int(g.Main.NumRows()), Path: path, Sides: paths}, nil
}

// Finalize stores a copy of meta.
func (m *Memory) Finalize(ctx context.Context, meta wire.Metadata) error {
	if err := checkFinalize(ctx, &meta); err != nil {
		return err
	}
	c := cloneMeta(meta)
	m.mu.Lock()
	m.meta = &c
	m.mu.Unlock()
	return nil
}

// Discard records that it was called; committed groups stay.
func (m *Memory) Discard(context.Context) error {
	m.mu.Lock()
	m.discarded = true
	m.mu.Unlock()
	return nil
}

// Groups returns the stored groups by index. The map is a copy; the records are the sink's own,
// valid until Release: retain one to keep it longer, and do not release them.
func (m *Memory) Groups() map[int]arrow.RecordBatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]arrow.RecordBatch, len(m.groups))
	for g, r := range m.groups {
		out[g] = r
	}
	return out
}

// Sides returns the side datasets stored for a group, in the order they were written, or nil.
// The slice is a copy; the records are the sink's own, valid until Release, like those of
// Groups.
func (m *Memory) Sides(group int) []lifecycle.Side {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sides[group])
}

// Meta returns a copy of the finalized metadata, or nil before Finalize.
func (m *Memory) Meta() *wire.Metadata {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil {
		return nil
	}
	c := cloneMeta(*m.meta)
	return &c
}

// Discarded reports whether Discard was called.
func (m *Memory) Discarded() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.discarded
}

// Release drops the sink's references to its records, sides included, and forgets them; for tests that check
// allocations with memory.CheckedAllocator. Safe to call more than once.
func (m *Memory) Release() {
	m.mu.Lock()
	groups, sides := m.groups, m.sides
	m.groups, m.sides = map[int]arrow.RecordBatch{}, map[int][]lifecycle.Side{}
	m.mu.Unlock()
	for _, r := range groups {
		r.Release()
	}
	for _, ss := range sides {
		for _, s := range ss {
			s.Rec.Release()
		}
	}
}
