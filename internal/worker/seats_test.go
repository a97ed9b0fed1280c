package worker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// A seat purged with a marker (kv.Purge) is not the worker's any more. (The run's end purges its
// seats without markers; a worker still using one then claims it again, see seats.renew.)
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
	mine.adjust(ctx, 4)
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

// A single server's restart empties rf_seats (memory storage) while the workers' requests are
// in flight on their seats, and each learns it only at its next renewal. Meanwhile a free key
// is not a free seat: a worker that renews first claims its own seats again, and not those
// another still uses; the other claims its own at its renewal; the shares move on from there.
func TestSeatsLostInARestartAreNotTakenFromTheirHolder(t *testing.T) {
	t.Parallel()
	s, restart := natstest.RunRestartable(t)
	nc := natstest.Connect(t, s, natstest.ReconnectOptions...)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard, not a timing assertion
	defer cancel()
	res, err := broker.Ensure(ctx, js, wire.DefaultLayout())
	require.NoError(t, err)
	const capacity = 8
	boards := map[string]*board{"a": newBoard(), "b": newBoard()}
	for _, b := range boards {
		stop, err := b.watch(ctx, nc, res.Seats, func() {})
		require.NoError(t, err)
		defer stop() // before ctx ends
	}
	la, lb := llm.NewLimiter(0), llm.NewLimiter(0)
	a := newSeats(res.Seats, "a", "run1", "writer", capacity, la, boards["a"])
	b := newSeats(res.Seats, "b", "run1", "writer", capacity, lb, boards["b"])
	a.adjust(ctx, 4)
	b.adjust(ctx, 4)
	var releaseB []func(llm.Outcome)
	for _, l := range []*llm.Limiter{la, lb} {
		for range 4 {
			r, err := l.Acquire(ctx)
			require.NoError(t, err)
			if l == lb {
				releaseB = append(releaseB, r)
			}
		}
	}
	// The shares move toward a: b keeps its four seats while their requests last.
	b.adjust(ctx, 2)
	a.adjust(ctx, 6)
	require.Equal(t, 4, a.count())
	require.Equal(t, 4, b.count())
	out := func(l *llm.Limiter) int { st := l.State(); return max(st.InFlight, st.Ceiling) }
	require.Equal(t, capacity, out(la)+out(lb))
	allTaken := func(b *board) bool {
		for i := range capacity {
			if !b.taken(wire.SeatKey("run1", "writer", i)) {
				return false
			}
		}
		return true
	}
	require.Eventually(t, func() bool { return allTaken(boards["a"]) }, 20*time.Second, 10*time.Millisecond)
	// The server stays down long enough for the seats' last renewals to age out of the board.
	boards["a"].mu.Lock()
	for key := range boards["a"].seen {
		boards["a"].seen[key] = time.Now().Add(-wire.SeatTTL)
	}
	boards["a"].mu.Unlock()
	require.False(t, allTaken(boards["a"]))

	restart()
	require.Eventually(t, func() bool { // what the controller's EnsureOnReconnect does
		_, err := broker.Ensure(ctx, js, wire.DefaultLayout())
		return err == nil
	}, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return allTaken(boards["a"]) }, 20*time.Second, 10*time.Millisecond,
		"after the reconnect the board holds the seats it knew")
	keys := func() int {
		lister, err := res.Seats.ListKeys(ctx)
		require.NoError(t, err)
		n := 0
		for range lister.Keys() {
			n++
		}
		return n
	}
	require.Zero(t, keys(), "the restart emptied rf_seats")

	a.renewed = time.Time{} // a renews first; b has not noticed the loss yet
	a.adjust(ctx, 6)
	require.Equal(t, 4, a.count(), "a claims its own seats again, not b's")
	require.LessOrEqual(t, out(la)+out(lb), capacity,
		"a: %+v (%d seats), b: %+v (%d seats)", la.State(), a.count(), lb.State(), b.count())
	b.renewed = time.Time{}
	b.adjust(ctx, 2)
	require.Equal(t, 4, b.count(), "b claims its seats in use again")
	require.Equal(t, capacity, keys())

	for _, r := range releaseB {
		r(llm.Succeeded)
	}
	b.adjust(ctx, 2)
	require.Equal(t, 2, b.count(), "b gives its idle surplus back")
	require.Eventually(t, func() bool { // once the watch, made again after the reconnect, tells
		n := 0
		for i := range capacity {
			if boards["a"].taken(wire.SeatKey("run1", "writer", i)) {
				n++
			}
		}
		return n == capacity-2
	}, 20*time.Second, 10*time.Millisecond)
	a.adjust(ctx, 6)
	require.Equal(t, 6, a.count(), "a takes them")
	require.LessOrEqual(t, out(la)+out(lb), capacity)
}

// A worker that dies leaves its seats to expire without a word to the watch: the board lets
// them go when rf_seats does (SeatTTL after their last renewal), and they are claimed again.
func TestSeatsOfADeadWorkerAreClaimedOnceExpired(t *testing.T) {
	t.Parallel()
	nc, _, kv := workersBucket(t)
	ctx := t.Context()
	bd := newBoard()
	stop, err := bd.watch(ctx, nc, kv, func() {})
	require.NoError(t, err)
	t.Cleanup(stop)
	dead := newSeats(kv, "dead", "run1", "writer", 4, llm.NewLimiter(0), nil)
	dead.adjust(ctx, 3)
	require.Eventually(t, func() bool { return bd.taken(wire.SeatKey("run1", "writer", 2)) }, 10*time.Second, 10*time.Millisecond)

	mine := newSeats(kv, "a", "run1", "writer", 4, llm.NewLimiter(0), bd)
	mine.adjust(ctx, 4)
	require.Equal(t, 1, mine.count(), "the dead worker's seats are not expired yet")

	// SeatTTL later: the entries are gone from the bucket (its TTL leaves no marker) and the
	// board's sightings have aged.
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, err := js.Stream(ctx, "KV_"+wire.DefaultLayout().SeatsBucket())
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+wire.DefaultLayout().SeatsBucket()+"."+wire.SeatKey("run1", "writer", i))))
	}
	bd.mu.Lock()
	for key := range bd.seen {
		if !strings.HasSuffix(key, ".3") {
			bd.seen[key] = time.Now().Add(-wire.SeatTTL)
		}
	}
	bd.mu.Unlock()
	mine.adjust(ctx, 4)
	require.Equal(t, 4, mine.count())
}
