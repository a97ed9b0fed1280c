package broker

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Lookup on an empty server names the first missing resource with a *MissingError, and
// creates nothing; once Ensure ran, it opens what the role needs and nothing else.
func TestLookupWaitsForEnsure(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	for _, need := range []Needs{WorkerNeeds(l), SinkdNeeds(l)} {
		_, err := Lookup(b.ctx, b.js, l, need)
		missing, ok := errors.AsType[*MissingError](err)
		require.True(t, ok, "a *MissingError, got %v", err)
		require.Equal(t, "stream", missing.Kind)
		require.Equal(t, l.OutcomesStream(), missing.Name)
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
		require.Equal(t, "stream RF_OUTCOMES missing", err.Error())
	}
	names := b.js.StreamNames(b.ctx)
	for range names.Name() {
		t.Fatal("Lookup created a stream")
	}

	_, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	w, err := Lookup(b.ctx, b.js, l, WorkerNeeds(l))
	require.NoError(t, err)
	require.NotNil(t, w.Runs)
	require.NotNil(t, w.Workers)
	require.NotNil(t, w.Seats)
	require.NotNil(t, w.Cells)
	require.NotNil(t, w.Payloads)
	require.Nil(t, w.Preview, "a worker does not open the preview bucket")
	s, err := Lookup(b.ctx, b.js, l, SinkdNeeds(l))
	require.NoError(t, err)
	require.NotNil(t, s.Runs)
	require.NotNil(t, s.Preview)
	require.NotNil(t, s.Payloads)
	require.Nil(t, s.Workers, "sinkd does not open the workers bucket")
}

// Each kind of missing resource is reported as such: a deleted consumer, then a bucket, then
// the object store.
func TestLookupNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	_, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)

	require.NoError(t, b.js.DeleteConsumer(b.ctx, l.GroupsStream(), wire.WorkersConsumer))
	_, err = Lookup(b.ctx, b.js, l, WorkerNeeds(l))
	requireMissing(t, err, "consumer", "RF_GROUPS/workers")
	_, err = Ensure(b.ctx, b.js, l)
	require.NoError(t, err)

	require.NoError(t, b.js.DeleteKeyValue(b.ctx, l.SeatsBucket()))
	_, err = Lookup(b.ctx, b.js, l, WorkerNeeds(l))
	requireMissing(t, err, "bucket", "rf_seats")
	_, err = Lookup(b.ctx, b.js, l, SinkdNeeds(l))
	require.NoError(t, err, "sinkd does not need rf_seats")
	_, err = Ensure(b.ctx, b.js, l)
	require.NoError(t, err)

	require.NoError(t, b.js.DeleteObjectStore(b.ctx, l.PayloadsBucket()))
	_, err = Lookup(b.ctx, b.js, l, SinkdNeeds(l))
	requireMissing(t, err, "object store", "rf_payloads")
}

func requireMissing(t *testing.T, err error, kind, name string) {
	t.Helper()
	missing, ok := errors.AsType[*MissingError](err)
	require.True(t, ok, "a *MissingError, got %v", err)
	require.Equal(t, kind, missing.Kind)
	require.Equal(t, name, missing.Name)
}

// EnsureReport says what it did: everything is created on an empty server, nothing changes
// the second time, and a resource whose configuration drifted is updated back.
func TestEnsureReport(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	collect := func() map[string]string {
		t.Helper()
		got := map[string]string{}
		_, err := EnsureReport(b.ctx, b.js, l, func(c Change) { got[c.Kind+" "+c.Name] = c.Action })
		require.NoError(t, err)
		return got
	}
	first := collect()
	require.Len(t, first, len(l.Streams())+len(l.Consumers())+len(l.Buckets())+1)
	for what, action := range first {
		require.Equal(t, "created", action, what)
	}
	for what, action := range collect() {
		require.Equal(t, "unchanged", action, what)
	}

	st, err := b.js.Stream(b.ctx, l.SinkStream())
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = 1 // as a worker could once do
	_, err = b.js.UpdateStream(b.ctx, cfg)
	require.NoError(t, err)
	third := collect()
	require.Equal(t, "updated", third["stream RF_SINK"])
	require.Equal(t, "unchanged", third["stream RF_GROUPS"])
	st, err = b.js.Stream(b.ctx, l.SinkStream())
	require.NoError(t, err)
	require.EqualValues(t, -1, st.CachedInfo().Config.MaxMsgs, "set back to the layout's")
}
