package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The ledger is the rf_commits bucket: one entry per ended group of a run, written by the
// controller once the group is durable in the sink (or known to have no rows), before the
// group's outcome is acked. It is what `controller resume` reads to know which groups a killed
// controller had finished, so that they are not generated again.

// EndStatus is how a group ended, in its ledger entry.
type EndStatus string

const (
	EndCommitted EndStatus = "committed"
	EndDropped   EndStatus = "dropped" // every row of the group was dropped: nothing to write
)

// GroupEnd is a group's ledger entry.
type GroupEnd struct {
	Status EndStatus `json:"status"`
	Commit *Commit   `json:"commit,omitempty"` // EndCommitted only
	// Usage is what the group's generation cost, so that a resumed run's metadata counts it.
	Usage map[string]ModelUsage `json:"usage,omitempty"`
}

// LedgerKey is group g's key in the ledger; a run's entries share the prefix LedgerKeys(run).
func LedgerKey(run string, g int) string { return run + "." + strconv.Itoa(g) }

// LedgerKeys is the key filter of every entry of a run.
func LedgerKeys(run string) string { return run + ".>" }

// DecodeGroupEnd parses the ledger entry under key and returns its group with it.
func DecodeGroupEnd(key string, b []byte) (int, *GroupEnd, error) {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return 0, nil, fmt.Errorf("ledger key %q: no group index", key)
	}
	g, err := GroupIndex(key[i+1:])
	if err != nil {
		return 0, nil, fmt.Errorf("ledger key %q: no group index: %w", key, err)
	}
	var e GroupEnd
	if err := json.Unmarshal(b, &e); err != nil {
		return 0, nil, fmt.Errorf("ledger entry %s: %w", key, err)
	}
	switch e.Status {
	case EndCommitted:
		if e.Commit == nil || e.Commit.Group != g || e.Commit.Rows < 0 {
			return 0, nil, fmt.Errorf("ledger entry %s: commit missing or not of group %d", key, g)
		}
	case EndDropped:
	default:
		return 0, nil, fmt.Errorf("ledger entry %s: unknown status %q", key, e.Status)
	}
	return g, &e, nil
}

// ReadLedger returns the ended groups of run, by index.
func ReadLedger(ctx context.Context, kv jetstream.KeyValue, run string) (map[int]*GroupEnd, error) {
	ends := map[int]*GroupEnd{}
	err := ReadKeys(ctx, kv, LedgerKeys(run), func(key string, value []byte) error {
		g, end, err := DecodeGroupEnd(key, value)
		if err != nil {
			return err
		}
		ends[g] = end
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger of run %s: %w", run, err)
	}
	return ends, nil
}

// ReadKeys calls fn with the current value of each key of kv that filter matches, and stops at
// fn's first error. A watch delivers each key's last value and then a nil marker, so a whole
// prefix costs one subscription, not a Get per key.
func ReadKeys(ctx context.Context, kv jetstream.KeyValue, filter string, fn func(key string, value []byte) error) error {
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return errors.New("watch closed")
			case e == nil: // caught up
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}
