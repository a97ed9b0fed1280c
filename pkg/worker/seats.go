package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

// seats holds this worker's seats of one model of one run in rf_seats. A model has as many
// seats as its max_parallel_requests, a seat is a key only one worker can create, and the
// model's limiter admits no more requests than the seats held — so the endpoint never sees more
// than the cap, across workers, while they join, leave or crash (a dead worker's seats expire).
//
// A worker asks for its fair share of the seats (peers.share) while it holds groups of the run,
// at least one so that a group it holds can progress when there are more workers than seats,
// and none otherwise. It claims only free seats and gives back the ones over its want only once
// they are not in use: shares move between workers without the sum ever passing the cap.
type seats struct {
	kv         jetstream.KeyValue
	owner      string
	run, model string
	capacity   int
	limiter    *llm.Limiter

	mu      sync.Mutex
	held    map[int]uint64 // seat → revision of this worker's entry
	renewed time.Time
}

func newSeats(kv jetstream.KeyValue, owner, run, model string, capacity int, limiter *llm.Limiter) *seats {
	return &seats{kv: kv, owner: owner, run: run, model: model, capacity: capacity, limiter: limiter, held: map[int]uint64{}}
}

// adjust renews the seats held, gives back those over want that are idle, claims free ones up
// to want, and sets the limiter's ceiling to what is held (never above want).
func (s *seats) adjust(ctx context.Context, want int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.renewed) >= wire.SeatTTL/3 {
		s.renew(ctx)
	}
	s.limiter.SetCeiling(min(want, len(s.held)))
	keep := max(want, s.limiter.State().InFlight)
	for _, i := range slices.Backward(s.sortedHeld()) {
		if len(s.held) <= keep {
			break
		}
		if err := s.kv.Delete(ctx, s.key(i), jetstream.LastRevision(s.held[i])); err == nil ||
			errors.Is(err, jetstream.ErrKeyNotFound) {
			delete(s.held, i)
		}
	}
	for i := 0; i < s.capacity && len(s.held) < want; i++ {
		if _, ok := s.held[i]; ok {
			continue
		}
		if rev, err := s.kv.Create(ctx, s.key(i), []byte(s.owner)); err == nil {
			s.held[i] = rev
		}
	}
	s.limiter.SetCeiling(min(want, len(s.held)))
}

// renew rewrites each seat held, so that it does not expire while this worker lives.
func (s *seats) renew(ctx context.Context) {
	s.renewed = time.Now()
	for i, rev := range s.held {
		next, err := s.kv.Update(ctx, s.key(i), []byte(s.owner), rev)
		switch {
		case err == nil:
			s.held[i] = next
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			delete(s.held, i) // expired (and perhaps taken) or purged with the run: not ours
		} // another error: keep it and try again next time
	}
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
