package worker

import (
	"context"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// peers is what this worker knows of the live workers: how many, and where it ranks among them
// by key. A model's max_parallel_requests holds for the whole run, so each worker takes a share:
// cap/n, one more for the first cap%n by rank — the shares add up to the cap exactly.
type peers struct {
	mu      sync.Mutex
	n, rank int
}

// share is this worker's part of cap (zero when there are more workers than cap and it ranks
// last). While the count is unknown it is the whole cap, as for the only worker; the seats it
// can claim bound it either way (see seats).
func (p *peers) share(capacity int) int {
	p.mu.Lock()
	n, rank := p.n, p.rank
	p.mu.Unlock()
	if n <= 1 {
		return capacity
	}
	s := capacity / n
	if rank < capacity%n {
		s++
	}
	return s
}

func (p *peers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// refresh lists the live workers in rf_workers; it reports whether the count or rank changed.
func (p *peers) refresh(ctx context.Context, kv jetstream.KeyValue, self string) (bool, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return false, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if !slices.Contains(keys, self) {
		keys = append(keys, self)
	}
	slices.Sort(keys)
	n, rank := len(keys), slices.Index(keys, self)
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := n != p.n || rank != p.rank
	p.n, p.rank = n, rank
	return changed, nil
}
