package lifecycle_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// countingSink counts the writes of each group: a group written twice was generated twice.
type countingSink struct {
	*sinks.Memory
	mu     sync.Mutex
	writes map[int]int
}

func newCountingSink(t *testing.T) *countingSink {
	s := &countingSink{Memory: sinks.NewMemory(), writes: map[int]int{}}
	t.Cleanup(s.Release)
	return s
}

func (s *countingSink) WriteGroup(ctx context.Context, g lifecycle.Group) (wire.Commit, error) {
	s.mu.Lock()
	s.writes[g.Index]++
	s.mu.Unlock()
	return s.Memory.WriteGroup(ctx, g)
}

func (s *countingSink) count(g int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[g]
}

// reference runs the dataset uninterrupted on a deployment of its own.
func reference(t *testing.T, opts lifecycle.Options) *sinks.Memory {
	t.Helper()
	b := setup(t, 2)
	sink := sinks.NewMemory()
	t.Cleanup(sink.Release)
	opts.RunID = ""
	_, err := b.ctrl.Run(context.Background(), parse(t, testConfig), opts, sink)
	require.NoError(t, err)
	return sink
}

func requireSameGroups(t *testing.T, want, got *sinks.Memory) {
	t.Helper()
	w, g := frames(t, want), frames(t, got)
	require.Len(t, g, len(w))
	for i, f := range w {
		require.Equal(t, f.Len(), g[i].Len(), "group %d", i)
		for _, c := range f.Columns() {
			require.Equal(t, c, g[i].Column(c.Name), "group %d column %s", i, c.Name)
		}
	}
}

// Resume continues a run from what is on the broker: the run record, the ledger, the outcomes
// and commits not yet taken.
func TestResume(t *testing.T) {
	t.Parallel()

	// A controller stopped on the spot (kill -9) leaves its run on the broker; a resume by another
	// controller finishes it without writing again the groups the first one committed, and the
	// dataset equals an uninterrupted run's.
	t.Run("AfterTheControllerStopped", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := newCountingSink(t)
		opts := lifecycle.Options{RunID: lifecycle.NewRunID(), NumRecords: 2000, BufferSize: 100,
			MaxConcurrentRowGroups: 3, Seed: 77, DatasetName: "resumed"}
		const stopAt = 6 // groups ended when the controller stops
		ended := 0
		b.ctrl.OnGroupEnding(func(int) error {
			if ended++; ended == stopAt {
				return lifecycle.ErrStop
			}
			return nil
		})
		_, err := b.ctrl.Run(context.Background(), parse(t, testConfig), opts, sink)
		require.ErrorIs(t, err, lifecycle.ErrStop)
		require.Equal(t, wire.RunRunning, runState(t, b, opts.RunID), "a stopped controller leaves its run running")
		require.Nil(t, sink.Meta())

		ledger, err := broker.ReadLedger(context.Background(), b.res.Commits, opts.RunID)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(ledger), stopAt-1, "the groups that ended are in the ledger")
		for g := range ledger {
			require.Equal(t, 1, sink.count(g), "group %d", g)
		}

		other := lifecycle.New(b.nc, b.js, wire.DefaultLayout(), b.res, nil)
		res, err := other.Resume(context.Background(), opts.RunID, sink)
		require.NoError(t, err)
		require.Equal(t, wire.RunCompleted, res.Status)
		// A ledger write sent as the controller stopped may land after the read above.
		require.GreaterOrEqual(t, res.Resumed, len(ledger))
		require.Equal(t, 2000, res.Rows)
		require.Len(t, res.Commits, 20)
		for g := range ledger {
			require.Equal(t, 1, sink.count(g), "group %d was committed before the stop and written again", g)
		}
		meta := sink.Meta()
		require.NotNil(t, meta)
		require.Equal(t, 2000, meta.ActualNumRecords)
		require.Equal(t, 20, meta.TotalNumBatches)
		require.Equal(t, "resumed", meta.DatasetName)
		require.Equal(t, uint64(77), meta.Seed)
		requireSameGroups(t, reference(t, opts), sink.Memory)

		after, err := broker.ReadLedger(context.Background(), b.res.Commits, opts.RunID)
		require.NoError(t, err)
		require.Empty(t, after, "a completed run's ledger is purged")
		_, err = other.Resume(context.Background(), opts.RunID, sink)
		var ended2 *lifecycle.NotResumableError
		require.ErrorAs(t, err, &ended2, "a completed run cannot be resumed")
		require.Equal(t, wire.RunCompleted, ended2.State)
	})

	// A controller that is in fact still running when another resumes its run stops at its next
	// group and leaves the run to the other: it neither aborts nor discards it.
	t.Run("SupersedesItsController", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := newCountingSink(t)
		opts := lifecycle.Options{RunID: lifecycle.NewRunID(), NumRecords: 1500, BufferSize: 100, Seed: 5}
		first := true
		b.ctrl.OnGroupEnding(func(int) error {
			if first { // another controller claims the run, as Resume does
				first = false
				e, err := b.res.Runs.Get(context.Background(), opts.RunID)
				require.NoError(t, err)
				rec, err := wire.DecodeRunRecord(e.Value())
				require.NoError(t, err)
				rec.Epoch++
				body, _ := json.Marshal(rec)
				_, err = b.res.Runs.Update(context.Background(), opts.RunID, body, e.Revision())
				require.NoError(t, err)
			}
			return nil
		})
		res, err := b.ctrl.Run(context.Background(), parse(t, testConfig), opts, sink)
		var sup *lifecycle.SupersededError
		require.ErrorAs(t, err, &sup)
		require.Equal(t, 1, sup.Epoch)
		require.Equal(t, wire.RunRunning, res.Status)
		require.Equal(t, wire.RunRunning, runState(t, b, opts.RunID), "the superseded controller leaves the run running")
		require.False(t, sink.Discarded(), "nor does it discard the run's output")

		other := lifecycle.New(b.nc, b.js, wire.DefaultLayout(), b.res, nil)
		res, err = other.Resume(context.Background(), opts.RunID, sink)
		require.NoError(t, err)
		require.Equal(t, 1500, res.Rows)
		requireSameGroups(t, reference(t, opts), sink.Memory)
	})

	// A run aborted while it had no controller is drained and discarded by the resume.
	t.Run("OfAnAbortedRunFinishesTheAbort", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		sink := newCountingSink(t)
		opts := lifecycle.Options{RunID: lifecycle.NewRunID(), NumRecords: 1000, BufferSize: 100}
		b.ctrl.OnGroupEnding(func(int) error { return lifecycle.ErrStop })
		_, err := b.ctrl.Run(context.Background(), parse(t, testConfig), opts, sink)
		require.ErrorIs(t, err, lifecycle.ErrStop)
		e, err := b.res.Runs.Get(context.Background(), opts.RunID)
		require.NoError(t, err)
		rec, err := wire.DecodeRunRecord(e.Value())
		require.NoError(t, err)
		rec.State, rec.Reason = wire.RunAborting, "operator changed their mind"
		body, _ := json.Marshal(rec)
		_, err = b.res.Runs.Update(context.Background(), opts.RunID, body, e.Revision())
		require.NoError(t, err)

		res, err := lifecycle.New(b.nc, b.js, wire.DefaultLayout(), b.res, nil).Resume(context.Background(), opts.RunID, sink)
		require.ErrorIs(t, err, lifecycle.ErrAborted)
		require.Contains(t, err.Error(), "operator changed their mind")
		require.Equal(t, wire.RunAborted, res.Status)
		require.Equal(t, wire.RunAborted, runState(t, b, opts.RunID))
		require.True(t, sink.Discarded())
		require.Nil(t, sink.Meta())
	})

	t.Run("OfAnUnknownRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		_, err := b.ctrl.Resume(context.Background(), "0123456789ab", sinks.NewMemory())
		require.ErrorIs(t, err, lifecycle.ErrUnknownRun)
	})
}
