package lifecycle

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/pkg/wire"
)

// claims follows which groups of a run the workers have taken, from the groups in flight their
// rf_workers records list, for adaptive admission: the controller publishes a group once the
// one before it was taken (or ended), so one group waits for a worker, ready for the first that
// has room — not the whole window. Workers take groups while their model seats have room for
// more requests than they make (see worker.Options.MaxConcurrency): the groups in flight grow
// until the endpoints are busy, up to max_concurrent_row_groups, and stay few when they are.
type claims struct {
	run string

	mu      sync.Mutex
	taken   map[int]bool
	changed chan struct{} // closed and replaced at each change
}

func newClaims(run string) *claims {
	return &claims{run: run, taken: map[int]bool{}, changed: make(chan struct{})}
}

// watch follows rf_workers until ctx ends or stop is called.
func (c *claims) watch(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue) (stop func(), err error) {
	return jsx.Watch(ctx, nc, kv, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			return
		}
		if rec, err := wire.DecodeWorkerRecord(e.Value()); err == nil {
			c.mark(rec.InFlight[c.run]...)
		}
	})
}

// mark records groups as taken, or ended.
func (c *claims) mark(groups ...int) {
	if len(groups) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := false
	for _, g := range groups {
		if !c.taken[g] {
			c.taken[g] = true
			fresh = true
		}
	}
	if fresh {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// claimPatience bounds a wait for a claim: the records can be lost (rf_workers lives in memory,
// and a restarted server comes back without it) or the watch broken, and admission must then
// fall back to the window rather than wait for a group to end.
const claimPatience = 2 * time.Second

// await returns once group g was taken or ended, ctx ended, or claimPatience passed.
func (c *claims) await(ctx context.Context, g int) {
	giveUp := time.NewTimer(claimPatience)
	defer giveUp.Stop()
	for {
		c.mu.Lock()
		taken, changed := c.taken[g], c.changed
		c.mu.Unlock()
		if taken {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-giveUp.C:
			return
		case <-changed:
		}
	}
}
