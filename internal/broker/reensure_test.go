package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/wire"
)

// A single server's restart loses the memory buckets (worker records, seats, previews); the
// controller's connection makes them again once it has reconnected.
func TestEnsureOnReconnectMakesTheMemoryBucketsAgain(t *testing.T) {
	t.Parallel()
	s, restart := natstest.RunRestartable(t)
	nc := natstest.Connect(t, s, natstest.ReconnectOptions...)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	l := wire.DefaultLayout()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard, not a timing assertion
	defer cancel()
	_, err = Ensure(ctx, js, l)
	require.NoError(t, err)
	stop := EnsureOnReconnect(ctx, nc, js, l, slog.New(slog.DiscardHandler))
	defer stop()

	restart()
	for _, bucket := range []string{l.WorkersBucket(), l.SeatsBucket(), l.PreviewBucket()} {
		require.Eventually(t, func() bool {
			_, err := js.KeyValue(ctx, bucket)
			return err == nil
		}, 20*time.Second, 20*time.Millisecond, "bucket %s is made again", bucket)
	}
	_, err = js.KeyValue(ctx, l.RunsBucket())
	require.NoError(t, err, "a file bucket survived the restart")
}
