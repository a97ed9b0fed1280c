package worker

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

func seatsBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := wire.DefaultLayout().Ensure(context.Background(), js)
	require.NoError(t, err)
	return res.Seats
}

// Seats move between workers without their sum passing the cap: a worker claims only free
// seats, and gives back its surplus only once the requests using it have ended.
func TestSeatsNeverAddUpPastTheCap(t *testing.T) {
	t.Parallel()
	kv := seatsBucket(t)
	ctx := context.Background()
	la, lb := llm.NewLimiter(0), llm.NewLimiter(0)
	a := newSeats(kv, "a", "run1", "writer", 5, la)
	b := newSeats(kv, "b", "run1", "writer", 5, lb)
	total := func() int { return a.count() + b.count() }

	a.adjust(ctx, 5) // alone: the whole cap
	require.Equal(t, 5, a.count())
	require.Equal(t, 5, la.State().Ceiling)

	var releases []func(llm.Outcome)
	for range 4 { // a has four requests in flight
		r, err := la.Acquire(ctx)
		require.NoError(t, err)
		releases = append(releases, r)
	}
	b.adjust(ctx, 3) // b joins and wants its share: none is free
	require.Zero(t, b.count())
	require.Zero(t, lb.State().Ceiling, "b sends nothing without seats")

	a.adjust(ctx, 2) // a's share shrinks: it admits two, and keeps the four in use
	require.Equal(t, 4, a.count())
	require.Equal(t, 2, la.State().Ceiling)
	b.adjust(ctx, 3)
	require.Equal(t, 1, b.count(), "b takes the one seat free")
	require.LessOrEqual(t, total(), 5)

	for _, r := range releases {
		r(llm.Succeeded)
	}
	a.adjust(ctx, 2)
	require.Equal(t, 2, a.count(), "idle surplus goes back")
	b.adjust(ctx, 3)
	require.Equal(t, 3, b.count())
	require.Equal(t, 5, total())

	b.adjust(ctx, 0) // b has no group of the run any more
	require.Zero(t, b.count())
	keys, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	var held []string
	for k := range keys.Keys() {
		held = append(held, k)
	}
	require.Len(t, held, 2)
}

// A seat purged with its run is not the worker's any more.
func TestSeatsPurgedWithTheRunAreDropped(t *testing.T) {
	t.Parallel()
	kv := seatsBucket(t)
	ctx := context.Background()
	l := llm.NewLimiter(0)
	s := newSeats(kv, "a", "run2", "writer", 3, l)
	s.adjust(ctx, 3)
	require.Equal(t, 3, s.count())
	for i := range 3 {
		require.NoError(t, kv.Purge(ctx, wire.SeatKey("run2", "writer", i)))
	}
	s.renew(ctx)
	require.Zero(t, s.count())
}

func TestShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, capacity int
		want        []int // by rank
	}{
		{1, 64, []int{64}},
		{2, 64, []int{32, 32}},
		{3, 64, []int{22, 21, 21}},
		{8, 4, []int{1, 1, 1, 1, 0, 0, 0, 0}},
	} {
		sum := 0
		for rank := range tc.n {
			p := &peers{n: tc.n, rank: rank}
			require.Equal(t, tc.want[rank], p.share(tc.capacity), "n=%d cap=%d rank=%d", tc.n, tc.capacity, rank)
			sum += p.share(tc.capacity)
		}
		require.Equal(t, tc.capacity, sum, "shares add up to the cap")
	}
}
