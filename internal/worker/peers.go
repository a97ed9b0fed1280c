package worker

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/pkg/wire"
)

// peers is what this worker knows of the other live workers: their rf_workers records, kept
// current by a watch, so that the seats of each capped endpoint go where the requests wait (see
// shares) within a round trip of a change, not at the next poll.
type peers struct {
	self string // this worker's key

	mu   sync.Mutex
	recs map[string]peer // by key, this worker's excluded
}

type peer struct {
	rec  *wire.WorkerRecord
	seen time.Time // when the watch delivered it, by this worker's clock (not the server's: no skew)
}

// peerTTL is how long a record counts after the watch delivered it: the rf_workers bucket's TTL.
// An entry that expires sends no update to a watch, so a dead worker's record is aged out here.
const peerTTL = 15 * time.Second

func newPeers(self string) *peers { return &peers{self: self, recs: map[string]peer{}} }

// watch keeps the records current until ctx ends or stop is called, calling changed after each
// update.
func (p *peers) watch(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue, changed func()) (stop func(), err error) {
	return jsx.Watch(ctx, nc, kv, func(e jetstream.KeyValueEntry) {
		if e.Key() == p.self {
			return // this worker knows its own state
		}
		p.mu.Lock()
		if e.Operation() != jetstream.KeyValuePut {
			delete(p.recs, e.Key())
		} else if rec, err := wire.DecodeWorkerRecord(e.Value()); err == nil {
			p.recs[e.Key()] = peer{rec: rec, seen: time.Now()}
		}
		p.mu.Unlock()
		changed()
	})
}

// claimants returns the stakes in endpoint name of run, this worker's (mine) among the live
// peers', ordered by key, and where this worker ranks among them.
func (p *peers) claimants(run, name string, mine claimant) ([]claimant, int) {
	type keyed struct {
		key string
		c   claimant
	}
	all := []keyed{{p.self, mine}}
	p.mu.Lock()
	for key, pr := range p.recs {
		if time.Since(pr.seen) > peerTTL {
			delete(p.recs, key) // expired: gone, or it would have written since
			continue
		}
		c := claimant{demand: pr.rec.Demand[run][name], busy: len(pr.rec.InFlight[run]) > 0}
		if c.demand > 0 || c.busy {
			all = append(all, keyed{key, c})
		}
	}
	p.mu.Unlock()
	slices.SortFunc(all, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	cs := make([]claimant, len(all))
	self := 0
	for i, k := range all {
		cs[i] = k.c
		if k.key == p.self {
			self = i
		}
	}
	return cs, self
}

// share is this worker's part of capacity for endpoint name of run, given its own stake.
func (p *peers) share(run, name string, capacity int, mine claimant) int {
	cs, self := p.claimants(run, name, mine)
	return shares(capacity, cs)[self]
}
