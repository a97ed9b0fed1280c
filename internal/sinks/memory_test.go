package sinks_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/sinks/sinktest"
	"github.com/rowforge/rowforge/pkg/frame"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t,
		func(t *testing.T) lifecycle.Sink {
			m := sinks.NewMemory()
			t.Cleanup(m.Release)
			return m
		},
		func(t *testing.T, s lifecycle.Sink) sinktest.Readback {
			m := s.(*sinks.Memory)
			groups := m.Groups()
			rb := sinktest.Readback{Groups: groups, Sides: map[int]map[string]arrow.RecordBatch{}, Meta: m.Meta()}
			for g, r := range groups {
				r.Retain() // the readback owns its references
				for _, side := range m.Sides(g) {
					side.Rec.Retain()
					if rb.Sides[g] == nil {
						rb.Sides[g] = map[string]arrow.RecordBatch{}
					}
					rb.Sides[g][side.Dir] = side.Rec
				}
			}
			return rb
		})
}

func TestMemoryDiscardedAndRelease(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	f := frame.New(3)
	require.NoError(t, f.Put(frame.NewColumn("x", frame.Int, 3)))
	rec := f.ToRecord(mem)

	m := sinks.NewMemory()
	_, err := m.WriteGroup(context.Background(), lifecycle.Group{Index: 0, Main: rec})
	require.NoError(t, err)
	rec.Release() // the sink keeps its own reference
	_, err = m.WriteGroup(context.Background(), lifecycle.Group{Index: 0, Main: m.Groups()[0]})
	require.NoError(t, err, "rewriting a group with its own record must not free it")
	require.EqualValues(t, 3, m.Groups()[0].NumRows())

	// Sides are retained too, and released by Release.
	side := f.ToRecord(mem)
	main := f.ToRecord(mem)
	c, err := m.WriteGroup(context.Background(), lifecycle.Group{Index: 1, Main: main,
		Sides: []lifecycle.Side{{Dir: "processors-files/x", Rec: side}}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"processors-files/x": "memory/1/processors-files/x"}, c.Sides)
	side.Release()
	main.Release()
	require.Len(t, m.Sides(1), 1)
	require.EqualValues(t, 3, m.Sides(1)[0].Rec.NumRows())
	require.Nil(t, m.Sides(0))

	require.False(t, m.Discarded())
	require.NoError(t, m.Discard(context.Background()))
	require.True(t, m.Discarded())
	require.Len(t, m.Groups(), 2)

	m.Release()
	m.Release()
	require.Equal(t, map[int]arrow.RecordBatch{}, m.Groups())
	require.Nil(t, m.Sides(1))
}
