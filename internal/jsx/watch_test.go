package jsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/natstest"
)

// A server restart loses a memory bucket, and a watch of it never delivers again even once the
// bucket is back; Watch watches again after the reconnect, so that what is put into the new
// bucket still reaches fn.
func TestWatchSurvivesAServerRestart(t *testing.T) {
	t.Parallel()
	s, restart := natstest.RunRestartable(t)
	nc := natstest.Connect(t, s, natstest.ReconnectOptions...)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard, not a timing assertion
	defer cancel()
	cfg := jetstream.KeyValueConfig{Bucket: "mem", Storage: jetstream.MemoryStorage}
	kv, err := js.CreateKeyValue(ctx, cfg)
	require.NoError(t, err)

	seen := make(chan string, 16)
	stop, err := jsx.Watch(ctx, nc, kv, func(e jetstream.KeyValueEntry) { seen <- e.Key() })
	require.NoError(t, err)
	defer stop()
	_, err = kv.Put(ctx, "before", []byte("1"))
	require.NoError(t, err)
	require.Equal(t, "before", next(ctx, t, seen))

	reconnected := nc.StatusChanged(nats.CONNECTED)
	defer nc.RemoveStatusListener(reconnected)
	restart()
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("the client did not reconnect")
	}
	_, err = js.CreateOrUpdateKeyValue(ctx, cfg) // as a controller does after a reconnect
	require.NoError(t, err)
	_, err = kv.Put(ctx, "after", []byte("1"))
	require.NoError(t, err)
	require.Equal(t, "after", next(ctx, t, seen), "the watch follows the bucket made anew")
}

func next(ctx context.Context, t *testing.T, seen <-chan string) string {
	t.Helper()
	select {
	case k := <-seen:
		return k
	case <-ctx.Done():
		t.Fatal("the watch delivered nothing")
		return ""
	}
}
