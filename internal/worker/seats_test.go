package worker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/wire"
)

func seatsBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := broker.Ensure(context.Background(), js, wire.DefaultLayout())
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
	a := newSeats(kv, "a", "run1", "writer", 5, la, nil)
	b := newSeats(kv, "b", "run1", "writer", 5, lb, nil)
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
	s := newSeats(kv, "a", "run2", "writer", 3, l, nil)
	s.adjust(ctx, 3)
	require.Equal(t, 3, s.count())
	for i := range 3 {
		require.NoError(t, kv.Purge(ctx, wire.SeatKey("run2", "writer", i)))
	}
	s.renew(ctx)
	require.Zero(t, s.count())
}

func workersBucket(t *testing.T) (nc *nats.Conn, workers, seats jetstream.KeyValue) {
	t.Helper()
	nc = natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	res, err := broker.Ensure(t.Context(), js, wire.DefaultLayout())
	require.NoError(t, err)
	return nc, res.Workers, res.Seats
}

// A worker's share follows the demand its peers announce in rf_workers: seats go where the
// requests wait, and come back when the peer's groups end.
func TestSharesFollowTheAnnouncedDemand(t *testing.T) {
	t.Parallel()
	nc, kv, _ := workersBucket(t)
	ctx := t.Context()
	p := newPeers("a")
	changed := make(chan struct{}, 16)
	stop, err := p.watch(ctx, nc, kv, func() { changed <- struct{}{} })
	require.NoError(t, err)
	t.Cleanup(stop)

	announce := func(rec wire.WorkerRecord) {
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		_, err = kv.Put(ctx, wire.WorkerKey(rec.ID), b)
		require.NoError(t, err)
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("the watch did not see the record")
		}
	}
	mine := claimant{demand: 5, busy: true}
	require.Equal(t, 32, p.share("run1", "writer", 32, mine), "alone")

	announce(wire.WorkerRecord{ID: "b", InFlight: map[string][]int{"run1": {3}},
		Demand: map[string]map[string]int{"run1": {"writer": 40}}})
	require.Equal(t, 5, p.share("run1", "writer", 32, mine), "b's requests wait: a keeps what it uses")
	require.Equal(t, 16, p.share("run1", "writer", 32, claimant{demand: 40, busy: true}), "even demand, even split")
	require.Equal(t, 32, p.share("run2", "writer", 32, mine), "b has nothing of run2")

	announce(wire.WorkerRecord{ID: "b"}) // b's group ended
	require.Equal(t, 32, p.share("run1", "writer", 32, mine))

	announce(wire.WorkerRecord{ID: "b", InFlight: map[string][]int{"run1": {4}},
		Demand: map[string]map[string]int{"run1": {"writer": 40}}})
	_, err = kv.Put(ctx, "b", []byte("not a record"))
	require.NoError(t, err)
	<-changed
	require.Equal(t, 5, p.share("run1", "writer", 32, mine), "a record that does not decode changes nothing")
	require.NoError(t, kv.Delete(ctx, "b"))
	<-changed
	require.Equal(t, 32, p.share("run1", "writer", 32, mine), "a deleted record is gone")
}

// The board shows the seats others hold, so that claims go to free seats, and tells when one
// is given back.
func TestBoardTracksTheSeatsTaken(t *testing.T) {
	t.Parallel()
	nc, _, kv := workersBucket(t)
	ctx := t.Context()
	b := newBoard()
	freed := make(chan struct{}, 16)
	stop, err := b.watch(ctx, nc, kv, func() { freed <- struct{}{} })
	require.NoError(t, err)
	t.Cleanup(stop)

	other := newSeats(kv, "b", "run1", "writer", 4, llm.NewLimiter(0), nil)
	other.adjust(ctx, 3)
	require.Equal(t, 3, other.count())

	mine := newSeats(kv, "a", "run1", "writer", 4, llm.NewLimiter(0), b)
	mine.adjust(ctx, 4) // the first adjust renews, and tries every seat
	require.Equal(t, 1, mine.count(), "one seat is free")

	other.adjust(ctx, 1) // b gives two back
	for range 2 {
		select {
		case <-freed:
		case <-ctx.Done():
			t.Fatal("the board did not see the seats given back")
		}
	}
	require.True(t, b.taken(wire.SeatKey("run1", "writer", 0)), "the watch delivered b's claims before its give-backs")
	require.False(t, b.taken(wire.SeatKey("run1", "writer", 1)))
	mine.adjust(ctx, 4)
	require.Equal(t, 3, mine.count(), "a takes the seats given back, between renewals")
	require.Equal(t, 1, other.count())
}
