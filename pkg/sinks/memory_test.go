package sinks_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/sinks"
	"github.com/rowforge/rowforge/pkg/sinks/sinktest"
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
			for _, r := range groups {
				r.Retain() // the readback owns its references
			}
			return sinktest.Readback{Groups: groups, Meta: m.Meta()}
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
	_, err := m.WriteGroup(context.Background(), 0, rec)
	require.NoError(t, err)
	rec.Release() // the sink keeps its own reference
	_, err = m.WriteGroup(context.Background(), 0, m.Groups()[0])
	require.NoError(t, err, "rewriting a group with its own record must not free it")
	require.EqualValues(t, 3, m.Groups()[0].NumRows())

	require.False(t, m.Discarded())
	require.NoError(t, m.Discard(context.Background()))
	require.True(t, m.Discarded())
	require.Len(t, m.Groups(), 1)

	m.Release()
	m.Release()
	require.Equal(t, map[int]arrow.RecordBatch{}, m.Groups())
}
