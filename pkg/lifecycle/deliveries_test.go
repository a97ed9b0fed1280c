package lifecycle_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// A group that no worker finishes within MaxDeliver deliveries fails the run, naming the
// group, instead of being waited for forever. The "worker" here takes the group and hands it
// back every time, as a worker that crashes on it would.
func TestExhaustedDeliveriesFailTheRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := natstest.RunServer(t)
	layout := wire.DefaultLayout()
	layout.MaxDeliver = 2
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := broker.Ensure(ctx, js, layout)
	require.NoError(t, err)

	cons, err := js.Consumer(ctx, layout.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wctx.Err() == nil {
			batch, err := cons.Fetch(1, jetstream.FetchContext(wctx))
			if err != nil {
				continue
			}
			for m := range batch.Messages() {
				_ = m.Nak()
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })

	sink := sinks.NewMemory()
	t.Cleanup(sink.Release)
	ctrl := lifecycle.New(nc, js, layout, res, slog.New(slog.DiscardHandler))
	_, err = ctrl.Run(ctx, parse(t, testConfig), lifecycle.Options{NumRecords: 10, BufferSize: 10}, sink)
	var de *lifecycle.DeliveriesExhaustedError
	require.ErrorAs(t, err, &de)
	require.Equal(t, 0, de.Group)
	require.EqualValues(t, 2, de.Deliveries)
	var ge *lifecycle.DatasetGenerationError
	require.ErrorAs(t, err, &ge)
	require.Nil(t, sink.Meta())
}
