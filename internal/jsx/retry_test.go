package jsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/natstest"
)

// Retry holds a message back longer after each failed delivery: the server redelivers it only
// after the delay, and the delay grows with the delivery count up to RetryMaxDelay.
func TestRetryHoldsTheMessageBackLongerEachTime(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard, not a timing assertion
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}})
	require.NoError(t, err)
	cons, err := js.CreateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s", []byte("x"))
	require.NoError(t, err)

	fetch := func(wait time.Duration) jetstream.Msg {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		require.NoError(t, err)
		for m := range batch.Messages() {
			return m
		}
		return nil
	}
	m := fetch(5 * time.Second)
	require.NotNil(t, m)
	require.Equal(t, time.Second, jsx.RetryDelay(m))
	handedBack := time.Now()
	jsx.Retry(m)
	m = fetch(5 * time.Second)
	require.NotNil(t, m, "redelivered after its delay")
	// A plain Nak is redelivered at once; the server holds this one back for its delay.
	require.GreaterOrEqual(t, time.Since(handedBack), time.Second, "redelivered before its delay")
	require.Equal(t, 2*time.Second, jsx.RetryDelay(m), "the second delivery waits twice as long")
	require.NoError(t, m.Ack())
}
