package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// The ledger is the rf_commits bucket: one entry per ended group of a run, written by the
// controller once the group is durable in the sink (or known to have no rows), before the
// group's outcome is acked. It is what `controller resume` reads to know which groups a killed
// controller had finished, so that they are not generated again.

// Group end statuses in the ledger.
const (
	EndCommitted = "committed"
	EndDropped   = "dropped" // every row of the group was dropped: nothing to write
)

// GroupEnd is a group's ledger entry.
type GroupEnd struct {
	Status string  `json:"status"`
	Commit *Commit `json:"commit,omitempty"` // EndCommitted only
	// Usage is what the group's generation cost, so that a resumed run's metadata counts it.
	Usage map[string]ModelUsage `json:"usage,omitempty"`
}

// LedgerKey is group g's key in the ledger; a run's entries share the prefix LedgerKeys(run).
func LedgerKey(run string, g int) string { return run + "." + strconv.Itoa(g) }

// LedgerKeys is the key filter of every entry of a run.
func LedgerKeys(run string) string { return run + ".>" }

// DecodeGroupEnd parses the ledger entry under key and returns its group with it.
func DecodeGroupEnd(key string, b []byte) (int, *GroupEnd, error) {
	i := lastDot(key)
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

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// ReadLedger returns the ended groups of run, by index. A watch delivers each key's last value
// and then a nil marker, so the whole ledger of a run costs one subscription, not a Get per key.
func ReadLedger(ctx context.Context, kv jetstream.KeyValue, run string) (map[int]*GroupEnd, error) {
	w, err := kv.WatchFiltered(ctx, []string{LedgerKeys(run)}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read the ledger of run %s: %w", run, err)
	}
	defer func() { _ = w.Stop() }()
	ends := map[int]*GroupEnd{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read the ledger of run %s: %w", run, context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read the ledger of run %s: watch closed", run)
			}
			if e == nil { // caught up
				return ends, nil
			}
			g, end, err := DecodeGroupEnd(e.Key(), e.Value())
			if err != nil {
				return nil, err
			}
			ends[g] = end
		}
	}
}
