package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
