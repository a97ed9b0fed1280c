package sinks

import (
	"context"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Memory is an in-memory Sink for tests of the code that drives a sink (the controller, sinkd).
// It keeps the same contract as the real sinks (it passes the same conformance suite), so a test
// against it means something for them. Methods are safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	groups    map[int]arrow.RecordBatch
	meta      *wire.Metadata
	discarded bool
}

var _ lifecycle.Sink = (*Memory)(nil)

// NewMemory returns an empty Memory sink.
func NewMemory() *Memory { return &Memory{groups: map[int]arrow.RecordBatch{}} }

// WriteGroup retains rec (the caller may release its own reference) and stores it, replacing a
// previous record of the same group. The Commit's Path is "memory/<group>".
func (m *Memory) WriteGroup(ctx context.Context, group int, rec arrow.RecordBatch) (wire.Commit, error) {
	if err := checkWrite(ctx, group, rec); err != nil {
		return wire.Commit{}, err
	}
	rec.Retain()
	m.mu.Lock()
	old := m.groups[group]
	m.groups[group] = rec
	m.mu.Unlock()
	if old != nil {
		old.Release()
	}
	return wire.Commit{Group: group, Rows: int(rec.NumRows()), Path: "memory/" + strconv.Itoa(group)}, nil
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

// Release drops the sink's references to its records and forgets them; for tests that check
// allocations with memory.CheckedAllocator. Safe to call more than once.
func (m *Memory) Release() {
	m.mu.Lock()
	groups := m.groups
	m.groups = map[int]arrow.RecordBatch{}
	m.mu.Unlock()
	for _, r := range groups {
		r.Release()
	}
}
