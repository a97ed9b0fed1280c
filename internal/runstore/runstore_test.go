package runstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/pkg/wire"
)

// newStore starts a server and returns the store over a fresh rf_runs bucket, and the bucket.
func newStore(t *testing.T) (*runstore.Store, jetstream.KeyValue) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: wire.DefaultLayout().RunsBucket()})
	require.NoError(t, err)
	return runstore.New(kv), kv
}

func record(id string) *wire.RunRecord {
	return &wire.RunRecord{ID: id, State: wire.RunRunning, Mode: wire.ModeBuild, NumRecords: 10, BufferSize: 5}
}

func TestCreateGetAndList(t *testing.T) {
	t.Parallel()
	s, kv := newStore(t)
	ctx := t.Context()
	require.NoError(t, s.Create(ctx, record("a")))
	require.NoError(t, s.Create(ctx, record("b")))
	require.Error(t, s.Create(ctx, record("a")), "an id is taken once")

	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, wire.RunRunning, got.State)
	_, err = s.Get(ctx, "zz")
	require.ErrorIs(t, err, runstore.ErrNotFound)

	_, err = kv.Put(ctx, "junk", []byte("{"))
	require.NoError(t, err)
	recs, err := s.List(ctx)
	require.NoError(t, err)
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	require.ElementsMatch(t, []string{"a", "b"}, ids, "a record that does not decode is skipped")
}

// Writers that race never undo each other's changes: every increment lands.
func TestUpdatesThatRaceAllLand(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	require.NoError(t, s.Create(ctx, record("r")))
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := s.Update(ctx, "r", func(rec *wire.RunRecord) error {
					rec.Progress.GroupsDone++
					return nil
				})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, err := s.Get(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, writers*each, got.Progress.GroupsDone)
}

func TestUpdateStopsOnTheChangesError(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, record("r")))

	refuse := errors.New("not now")
	_, err := s.Update(ctx, "r", func(rec *wire.RunRecord) error {
		rec.State = wire.RunFailed
		return refuse
	})
	require.ErrorIs(t, err, refuse)

	rec, err := s.Update(ctx, "r", func(rec *wire.RunRecord) error {
		rec.State = wire.RunFailed
		return runstore.ErrUnchanged
	})
	require.NoError(t, err)
	require.Equal(t, wire.RunFailed, rec.State, "ErrUnchanged returns the record as change left it")

	got, err := s.Get(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, wire.RunRunning, got.State, "neither update wrote")

	_, err = s.Update(ctx, "zz", func(*wire.RunRecord) error { return nil })
	require.ErrorIs(t, err, runstore.ErrNotFound)
}

func TestOpenFindsNoBucket(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	require.NoError(t, err)
	_, ok, err := runstore.Open(t.Context(), js, wire.DefaultLayout())
	require.NoError(t, err)
	require.False(t, ok)
}

// Await returns the first record, current or written later, that it is waiting for; an
// unknown run is ErrNotFound; when its context ends first it returns the last record seen.
func TestAwait(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	require.NoError(t, s.Create(ctx, record("r")))
	ended := func(rec *wire.RunRecord) bool { return rec.State.Ended() }

	type awaited struct {
		rec *wire.RunRecord
		err error
	}
	done := make(chan awaited, 1)
	go func() {
		rec, err := s.Await(ctx, "r", func(rec *wire.RunRecord) bool { return rec.Progress.GroupsDone == 2 })
		done <- awaited{rec, err}
	}()
	for range 2 {
		_, err := s.Update(ctx, "r", func(rec *wire.RunRecord) error { rec.Progress.GroupsDone++; return nil })
		require.NoError(t, err)
	}
	got := <-done
	require.NoError(t, got.err)
	require.Equal(t, 2, got.rec.Progress.GroupsDone, "the write it waited for")

	_, err := s.Update(ctx, "r", func(rec *wire.RunRecord) error { rec.State = wire.RunAborted; return nil })
	require.NoError(t, err)
	rec, err := s.Await(ctx, "r", ended)
	require.NoError(t, err, "the current record already is")
	require.Equal(t, wire.RunAborted, rec.State)

	_, err = s.Await(ctx, "nope", ended)
	require.ErrorIs(t, err, runstore.ErrNotFound)

	require.NoError(t, s.Create(ctx, record("running")))
	short, cancel := context.WithCancel(ctx)
	cancel()
	rec, err = s.Await(short, "running", ended)
	require.ErrorIs(t, err, context.Canceled)
	if rec != nil { // the watch may have delivered the record before the cancellation was seen
		require.Equal(t, wire.RunRunning, rec.State)
	}
}
