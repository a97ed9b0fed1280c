package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunServerHasJetStream(t *testing.T) {
	t.Parallel()
	s := natstest.RunServer(t)
	require.True(t, s.JetStreamEnabled())

	nc := natstest.Connect(t, s)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	_, err = js.AccountInfo(ctx)
	require.NoError(t, err)

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "NATSTEST",
		Subjects: []string{"natstest.>"},
		Storage:  jetstream.FileStorage,
	})
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "natstest.a", []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, "NATSTEST", ack.Stream)
	msg, err := stream.GetMsg(ctx, ack.Sequence)
	require.NoError(t, err)
	require.Equal(t, "hello", string(msg.Data))
}

func TestRunServerWithOptions(t *testing.T) {
	t.Parallel()
	s := natstest.RunServerWithOptions(t, func(o *server.Options) {
		o.ServerName = "natstest-custom"
		o.MaxPayload = 4 << 20
	})
	nc := natstest.Connect(t, s)
	require.Equal(t, "natstest-custom", nc.ConnectedServerName())
	require.EqualValues(t, 4<<20, nc.MaxPayload())
}

func TestServersAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := natstest.RunServer(t), natstest.RunServer(t)
	require.NotEqual(t, a.ClientURL(), b.ClientURL())
	require.NotEqual(t, a.StoreDir(), b.StoreDir())
}
