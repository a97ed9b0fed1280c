package lifecycle

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Admission waits for a group to be taken — listed in flight by a worker's record — or ended;
// another run's groups do not count.
func TestClaimsFollowTheWorkersRecords(t *testing.T) {
	t.Parallel()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := broker.Ensure(t.Context(), js, wire.DefaultLayout())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a safety net, not a timing assertion
	defer cancel()

	c := newClaims("run1")
	wctx, stop := context.WithCancel(ctx)
	stopWatch, err := c.watch(wctx, nc, res.Workers)
	require.NoError(t, err)
	t.Cleanup(func() { stop(); stopWatch() })

	put := func(rec wire.WorkerRecord) {
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		_, err = res.Workers.Put(ctx, wire.WorkerKey(rec.ID), b)
		require.NoError(t, err)
	}
	awaited := func(g int) <-chan struct{} {
		done := make(chan struct{})
		go func() { c.await(ctx, g); close(done) }()
		return done
	}

	first := awaited(0)
	put(wire.WorkerRecord{ID: "w1", InFlight: map[string][]int{"run2": {0}}})
	put(wire.WorkerRecord{ID: "w1", InFlight: map[string][]int{"run1": {0, 1}}})
	<-first
	require.NoError(t, ctx.Err(), "group 0 was taken")
	c.mu.Lock()
	require.Equal(t, map[int]bool{0: true, 1: true}, c.taken, "run2's group 0 did not count")
	c.mu.Unlock()

	ended := awaited(5)
	c.mark(5) // ended before any worker listed it
	<-ended
	require.NoError(t, ctx.Err())

	aborted, cancelWait := context.WithCancel(ctx)
	cancelWait()
	c.await(aborted, 9) // returns when its context ends
}

// A run publishes as many groups at once as it takes for their rows to fill the widest model's
// seats, then each after the one before was taken.
func TestEagerGroupsFillTheWidestModel(t *testing.T) {
	t.Parallel()
	model := func(capacity int) *config.Model {
		return &config.Model{Alias: "m", Params: config.InferenceParams{MaxParallelRequests: capacity}}
	}
	for _, tc := range []struct {
		name   string
		models []*config.Model
		buffer int
		want   int
	}{
		{name: "no model", buffer: 50, want: 1},
		{name: "cap 32, groups of 50", models: []*config.Model{model(32)}, buffer: 50, want: 1},
		{name: "cap 256, groups of 50", models: []*config.Model{model(256)}, buffer: 50, want: 6},
		{name: "cap 100, groups of 50", models: []*config.Model{model(100)}, buffer: 50, want: 2},
		{name: "the widest of two", models: []*config.Model{model(4), model(64)}, buffer: 10, want: 7},
		{name: "cap 256, groups of 1,000", models: []*config.Model{model(256)}, buffer: 1000, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, eagerGroups(&config.Config{Models: tc.models}, tc.buffer))
		})
	}
}
