package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

// seats holds this worker's seats of one model of one run in rf_seats. A model has as many
// seats as its max_parallel_requests, a seat is a key only one worker can create, and the
// model's limiter admits no more requests than the seats held — so the endpoint never sees more
// than the cap, across workers, while they join, leave or crash (a dead worker's seats expire).
//
// A worker asks for its share of the seats (see shares: by demand, at least one while it holds
// groups of the run, none otherwise). It claims only seats the board shows free and gives back
// the ones over its want only once they are not in use: shares move between workers without
// the sum ever passing the cap.
type seats struct {
	kv         jetstream.KeyValue
	owner      string
	run, model string
	capacity   int
	limiter    *llm.Limiter
	board      *board // nil: try every seat

	mu      sync.Mutex
	held    map[int]uint64 // seat → revision of this worker's entry
	renewed time.Time
}

func newSeats(kv jetstream.KeyValue, owner, run, model string, capacity int, limiter *llm.Limiter, b *board) *seats {
	return &seats{kv: kv, owner: owner, run: run, model: model, capacity: capacity, limiter: limiter, board: b, held: map[int]uint64{}}
}

// demand is the requests this worker has for the model: in flight and waiting for a seat.
func (s *seats) demand() int {
	st := s.limiter.State()
	return st.InFlight + st.Waiting
}

// adjust renews the seats held, gives back those over want that are idle, claims free ones up
// to want, and sets the limiter's ceiling to what is held (never above want). Its KV requests
// go out kvParallel at a time: at a run's start, or when a worker's groups end, a hundred seats
// move at once, and one round trip after another would leave them idle meanwhile.
func (s *seats) adjust(ctx context.Context, want int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.renewed) >= wire.SeatTTL/3 {
		s.renew(ctx)
	}
	s.limiter.SetCeiling(min(want, len(s.held)))
	if keep := max(want, s.limiter.State().InFlight); len(s.held) > keep {
		var give []int
		for _, i := range slices.Backward(s.sortedHeld()) {
			if len(give) == len(s.held)-keep {
				break
			}
			give = append(give, i)
		}
		s.each(give, func(i int, rev uint64) (bool, uint64) {
			err := s.kv.Delete(ctx, s.key(i), jetstream.LastRevision(rev))
			if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
				return false, 0
			}
			// The delete may have been applied and its reply lost: the seat is still this
			// worker's only if it still holds the revision written.
			e, gerr := s.kv.Get(ctx, s.key(i))
			return gerr == nil && e.Revision() == rev, rev
		})
	}
	next := 0 // the first seat not tried yet
	for len(s.held) < want && next < s.capacity {
		var try []int
		for ; next < s.capacity && len(try) < want-len(s.held); next++ {
			if _, ok := s.held[next]; !ok && !s.board.taken(s.key(next)) {
				try = append(try, next)
			}
		}
		held := int32(len(s.held))
		s.each(try, func(i int, _ uint64) (bool, uint64) {
			rev, err := s.kv.Create(ctx, s.key(i), []byte(s.owner))
			if err == nil {
				// A seat is used the moment it is claimed, not once the last of a hundred is:
				// the ceiling never passes the seats claimed, so the cap holds.
				s.limiter.RaiseCeiling(min(want, int(atomic.AddInt32(&held, 1))))
			}
			return err == nil, rev // taken: the watch tells the board
		})
	}
	s.limiter.SetCeiling(min(want, len(s.held)))
}

// kvParallel is how many KV requests for seats one adjust or renew has in flight.
const kvParallel = 32

// each runs fn on seats, kvParallel at a time (with the revision held, 0 for a seat not held),
// and records the outcome: fn reports whether the seat is held afterwards, and at which
// revision. s.mu is held.
func (s *seats) each(seats []int, fn func(i int, rev uint64) (held bool, next uint64)) {
	type result struct {
		i    int
		held bool
		rev  uint64
	}
	results := make([]result, len(seats))
	var wg sync.WaitGroup
	sem := make(chan struct{}, kvParallel)
	for k, i := range seats {
		sem <- struct{}{}
		rev := s.held[i]
		wg.Go(func() {
			defer func() { <-sem }()
			held, next := fn(i, rev)
			results[k] = result{i, held, next}
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.held {
			s.held[r.i] = r.rev
		} else {
			delete(s.held, r.i)
		}
	}
}

// renew rewrites each seat held, so that it does not expire while this worker lives.
//
// A seat whose key is gone without a trace — rf_seats lives in memory, and a single server's
// restart empties it while this worker's requests still use its seats — is claimed again, at
// once: until it is, another worker could take it and the cap would not hold (the other
// workers' boards still show it taken meanwhile; see board). So is one that expired while this
// worker was cut off from the server and that no one took, and one purged with its run while
// its requests were still in flight; it is given back once they end.
func (s *seats) renew(ctx context.Context) {
	s.renewed = time.Now()
	s.each(s.sortedHeld(), func(i int, rev uint64) (bool, uint64) {
		next, err := s.kv.Update(ctx, s.key(i), []byte(s.owner), rev)
		switch {
		case err == nil:
			return true, next
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			// Revision 0: only if the key has no entry at all, not even a delete or purge marker.
			if next, err := s.kv.Update(ctx, s.key(i), []byte(s.owner), 0); err == nil {
				return true, next // lost with the server's memory, or expired: ours again
			}
			return false, 0 // taken by another worker, or deleted: not ours
		}
		return true, rev // another error: keep it and try again next time
	})
}

func (s *seats) key(i int) string { return wire.SeatKey(s.run, s.model, i) }

func (s *seats) sortedHeld() []int {
	out := make([]int, 0, len(s.held))
	for i := range s.held {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// count is the number of seats held.
func (s *seats) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// board is what this worker knows of rf_seats from a watch: which seats are taken, so that
// claiming a seat costs a round trip only when it is likely free, and so that a seat is not
// claimed from under a worker that still uses it.
//
// A seat counts as taken for SeatTTL after the watch last delivered it (its holder renews it
// every SeatTTL/3), or until it is given back. One whose worker died expires without a word to
// the watch; the board lets it go when the bucket does. After a reconnect, every seat on the
// board counts as taken for SeatTTL again: a single server's restart empties rf_seats (memory
// storage), and a free key then does not mean a free seat — its holder's requests are still in
// flight, and it claims the seat again at its next renewal (see seats.renew), within SeatTTL/3.
type board struct {
	mu   sync.Mutex
	seen map[string]time.Time // seat key → when the watch last delivered it taken
}

func newBoard() *board { return &board{seen: map[string]time.Time{}} }

// watch keeps the board current until ctx ends or stop is called, calling freed when a seat is
// given back.
func (b *board) watch(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue, freed func()) (stop func(), err error) {
	// Listening before the watch starts: a reconnect while it starts is not missed.
	stopHold := jsx.OnReconnect(ctx, nc, func(context.Context) { b.hold() })
	stopWatch, err := jsx.Watch(ctx, nc, kv, func(e jetstream.KeyValueEntry) {
		taken := e.Operation() == jetstream.KeyValuePut
		b.set(e.Key(), taken)
		if !taken {
			freed()
		}
	})
	if err != nil {
		stopHold()
		return nil, err
	}
	return func() {
		stopHold()
		stopWatch()
	}, nil
}

// hold counts every seat on the board as taken for SeatTTL from now.
func (b *board) hold() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for key := range b.seen {
		b.seen[key] = now
	}
}

func (b *board) taken(key string) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.seen[key]
	return ok && time.Since(at) < wire.SeatTTL // else expired: its worker stopped renewing it
}

// forget drops what the board knows of a run's seats, once the run left this worker's cache:
// a run's seats are purged at its end without a word to the watch.
func (b *board) forget(run string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key := range b.seen {
		if strings.HasPrefix(key, run+".") {
			delete(b.seen, key)
		}
	}
}

func (b *board) set(key string, taken bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if taken {
		b.seen[key] = time.Now()
	} else {
		delete(b.seen, key)
	}
}
