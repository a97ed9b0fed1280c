package lifecycle_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The loop takes each group's outcome from the workers; what is not an outcome of a group of the
// run, or never comes, must not leave the run waiting.
func TestOutcomes(t *testing.T) {
	t.Parallel()

	// Foreign and malformed messages on the run's outcome subjects are terminated; the run goes on.
	t.Run("MalformedAreIgnored", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		run := lifecycle.NewRunID()
		l := wire.DefaultLayout()
		for _, subj := range []string{
			l.OutcomeSubject(run, wire.KindGroup, "999"), // no such group
			l.OutcomeSubject(run, wire.KindGroup, "abc"), // not a group index
		} {
			_, err := b.js.Publish(context.Background(), subj, []byte("garbage"))
			require.NoError(t, err)
		}
		res, err := b.ctrl.Run(context.Background(), parse(t, testConfig), lifecycle.Options{
			RunID: run, NumRecords: 40, BufferSize: 10}, sink)
		require.NoError(t, err)
		require.Equal(t, 40, res.Rows)
	})

	// A group that no worker finishes within MaxDeliver deliveries fails the run, naming the
	// group, instead of being waited for forever. The "worker" here takes the group and hands it
	// back every time, as a worker that crashes on it would.
	t.Run("ExhaustedDeliveriesFailTheRun", func(t *testing.T) {
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
	})
}
