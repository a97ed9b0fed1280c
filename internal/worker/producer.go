package worker

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/internal/jsx"
)

// produce is the pull loop, the producer's half of the worker: MaxConcurrency slots each fetch
// one group at a time and hand it to the executor (handle); the slots beyond Concurrency fetch
// only on a grant of the balancing loop (see ready), so that a group never waits in a client
// buffer while its AckWait runs. It returns once every slot has stopped.
func (w *Worker) produce(ctx context.Context, cons jetstream.Consumer) {
	jsx.PullGated(ctx, cons, w.opts.MaxConcurrency, w.ready, w.log, w.handle)
}

// poke asks the balancing loop to run now.
func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// balanceEvery is how often the worker looks at its demand when nothing pokes it: the requests
// waiting for seats change with every reply.
const balanceEvery = 100 * time.Millisecond

// balance keeps the worker's demand announced in rf_workers and its seats at its share, at every
// poke (a peer's record, a seat given back, a group taken or ended) and every balanceEvery, until
// ctx ends. The returned channel closes when it has stopped.
func (w *Worker) balance(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(balanceEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-w.wake:
			}
			w.announce.Lock()
			stale := !maps.EqualFunc(w.announced, w.demand(), maps.Equal)
			w.announce.Unlock()
			if stale {
				w.publishRecord(ctx)
			}
			w.adjustSeats(ctx, "")
			w.extra.grant(w.room())
			w.roomy.notify()
		}
	}()
	return done
}

// ready lets pull slot i fetch a group: the first Concurrency always, the others each on a
// fetch granted by the balancing loop (see room).
func (w *Worker) ready(ctx context.Context, slot int) (fetched func()) {
	if slot < w.opts.Concurrency {
		return nil
	}
	for {
		granted := w.roomy.wait() // before take: a grant made meanwhile is not missed
		if w.extra.take() {
			return w.extra.fetched
		}
		select {
		case <-ctx.Done():
			return nil
		case <-granted:
		}
	}
}

// room is how many more groups the seats of the runs in hand have room for: for each capped
// endpoint, the requests its share could take — were its demand the whole cap — beyond the
// demand, over the demand a group of the run makes; the most of these, and at most as many as
// the groups in hand (a new group's requests take a moment to show in the demand), within
// MaxConcurrency. Runs without capped endpoints have none: they keep to the base slots.
func (w *Worker) room() int {
	type job struct {
		run    string
		s      *seats
		groups int
	}
	var jobs []job
	held := 0
	w.mu.Lock()
	for id, e := range w.runs {
		held += len(w.inflight[id])
		if n := len(w.inflight[id]); n > 0 {
			for _, s := range e.seats {
				jobs = append(jobs, job{id, s, n})
			}
		}
	}
	w.mu.Unlock()
	most := 0
	for _, j := range jobs {
		d := j.s.demand()
		free := w.peers.share(j.run, j.s.model, j.s.capacity, claimant{demand: j.s.capacity, busy: true}) - d
		if free <= 0 {
			continue
		}
		perGroup := max(1, d/j.groups)
		most = max(most, (free+perGroup-1)/perGroup)
	}
	return min(most, held, w.opts.MaxConcurrency-held)
}

// extra rations the pull slots beyond Concurrency: each balance grants as many fetches as the
// seats have room for groups, less the fetches still waiting for one — a moment of room must not
// send every extra slot after a group, each of which would take one when it comes.
type extra struct {
	mu               sync.Mutex
	grants, fetching int
}

func (x *extra) grant(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.grants = max(0, n-x.fetching)
}

func (x *extra) take() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.grants == 0 {
		return false
	}
	x.grants--
	x.fetching++
	return true
}

func (x *extra) fetched() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.fetching--
}

// adjustSeats moves this worker's model seats toward its want (see seats): of every run, or
// only of run when it is not "". A run with no group in flight here wants none.
func (w *Worker) adjustSeats(ctx context.Context, run string) {
	type job struct {
		run  string
		s    *seats
		busy bool
	}
	var jobs []job
	w.mu.Lock()
	for id, e := range w.runs {
		if run != "" && id != run {
			continue
		}
		for _, s := range e.seats {
			jobs = append(jobs, job{id, s, len(w.inflight[id]) > 0})
		}
	}
	w.mu.Unlock()
	for _, j := range jobs {
		want := 0
		if j.busy {
			want = w.peers.share(j.run, j.s.model, j.s.capacity, claimant{demand: j.s.demand(), busy: true})
		}
		j.s.adjust(ctx, want)
	}
}

// signal wakes every goroutine waiting on it, at each notify.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that closes at the next notify.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
