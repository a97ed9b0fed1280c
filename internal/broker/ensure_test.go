package broker

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/wire"
)

// testBundle is one embedded server and a JetStream client on it.
type testBundle struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	ctx context.Context // ends with the test, or after 30 s
}

func setupJS(t *testing.T) *testBundle {
	t.Helper()
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return &testBundle{nc: nc, js: js, ctx: ctx}
}

func requireLayout(t *testing.T, b *testBundle, l wire.Layout, res *Resources) {
	t.Helper()
	prefix := cmp.Or(l.Prefix, "rf")
	for name, subject := range map[string]string{
		l.GroupsStream():   prefix + ".groups.>",
		l.OutcomesStream(): prefix + ".outcomes.>",
		l.SinkStream():     prefix + ".sink.>",
	} {
		st, err := b.js.Stream(b.ctx, name)
		require.NoError(t, err, name)
		cfg := st.CachedInfo().Config
		require.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention, name)
		require.Equal(t, []string{subject}, cfg.Subjects, name)
		require.Equal(t, l.Storage, cfg.Storage, name)
		require.Equal(t, 2*time.Minute, cfg.Duplicates, name)
	}
	maxDeliver, ackWait := l.MaxDeliver, l.AckWait
	if maxDeliver <= 0 {
		maxDeliver = wire.DefaultLayout().MaxDeliver
	}
	if ackWait <= 0 {
		ackWait = wire.DefaultLayout().AckWait
	}
	for _, c := range []struct {
		stream, name string
		maxDeliver   int
		ackWait      time.Duration
	}{
		{l.GroupsStream(), wire.WorkersConsumer, maxDeliver, ackWait},
		{l.SinkStream(), wire.SinkdConsumer, 10, time.Minute},
	} {
		cons, err := b.js.Consumer(b.ctx, c.stream, c.name)
		require.NoError(t, err, c.name)
		cfg := cons.CachedInfo().Config
		require.Equal(t, c.name, cfg.Durable)
		require.Equal(t, jetstream.AckExplicitPolicy, cfg.AckPolicy)
		require.Equal(t, c.maxDeliver, cfg.MaxDeliver, c.name)
		require.Equal(t, c.ackWait, cfg.AckWait, c.name)
		require.Equal(t, 10000, cfg.MaxAckPending)
	}
	for _, bucket := range []string{l.RunsBucket(), l.WorkersBucket(), l.PreviewBucket(), l.CommitsBucket(), l.SeatsBucket(), l.CellsBucket()} {
		_, err := b.js.KeyValue(b.ctx, bucket)
		require.NoError(t, err, bucket)
	}
	_, err := b.js.ObjectStore(b.ctx, l.PayloadsBucket())
	require.NoError(t, err)

	require.NotNil(t, res.Runs)
	require.NotNil(t, res.Workers)
	require.NotNil(t, res.Preview)
	require.NotNil(t, res.Payloads)
	require.NotNil(t, res.Commits)
	require.Equal(t, l.CommitsBucket(), res.Commits.Bucket())
	require.Equal(t, l.RunsBucket(), res.Runs.Bucket())
	require.Equal(t, l.WorkersBucket(), res.Workers.Bucket())
	require.Equal(t, l.PreviewBucket(), res.Preview.Bucket())
	status, err := res.Payloads.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, l.PayloadsBucket(), status.Bucket())
}

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	l.AckWait = 45 * time.Second
	res, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	requireLayout(t, b, l, res)

	// The buckets work, and survive the second call.
	_, err = res.Runs.Create(b.ctx, "r1", []byte("x"))
	require.NoError(t, err)

	res2, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	requireLayout(t, b, l, res2)
	e, err := res2.Runs.Get(b.ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, "x", string(e.Value()))

	names := b.js.StreamNames(b.ctx)
	var streams []string
	for n := range names.Name() {
		streams = append(streams, n)
	}
	require.NoError(t, names.Err())
	// Three streams, six KV buckets and an object store, each a stream; no more.
	require.Len(t, streams, 10, "%v", streams)
}

// Every process calls Ensure at start, possibly at the same moment.
func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := Ensure(b.ctx, b.js, l)
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	res, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	requireLayout(t, b, l, res)
}

// Two deployments share a server through their prefixes; a zero wire.Layout is the default one.
func TestEnsureLayoutsShareAServer(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	zero := wire.Layout{Storage: jetstream.MemoryStorage}
	acme := wire.Layout{Prefix: "acme", MaxDeliver: 3, AckWait: time.Minute}
	for _, l := range []wire.Layout{zero, acme} {
		res, err := Ensure(b.ctx, b.js, l)
		require.NoError(t, err, l.Prefix)
		requireLayout(t, b, l, res)
	}
	require.Equal(t, "RF_GROUPS", zero.GroupsStream())
	require.Equal(t, wire.DefaultLayout().GroupSubject("r", 1), zero.GroupSubject("r", 1))

	cons, err := b.js.Consumer(b.ctx, zero.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	require.Equal(t, wire.DefaultLayout().MaxDeliver, cons.CachedInfo().Config.MaxDeliver, "a zero MaxDeliver must not mean unlimited")
	require.Equal(t, wire.DefaultLayout().AckWait, cons.CachedInfo().Config.AckWait)
}
