package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ProgressReport is one worker's count of its work on one run so far, published on core NATS
// (Layout.ProgressSubject) for the controller's progress display. The counts are cumulative
// over the reporter's session, so that a lost report costs nothing: the next one carries all
// it did. A reader keeps, per worker and session, the report with the highest Seq.
type ProgressReport struct {
	Run    string `json:"run"`
	Worker string `json:"worker"`
	// Session is new each time a worker starts: a worker restarted under the same id counts
	// from zero again, in a session of its own.
	Session string `json:"session"`
	Seq     uint64 `json:"seq"` // 1 for the session's first report of the run, then one more each
	// Columns counts the run's cells by column: resolved cells of the groups this worker ran.
	Columns map[string]CellCounts `json:"columns,omitempty"`
	// Models counts the run's model requests by alias (retries are requests too).
	Models map[string]RequestCounts `json:"models,omitempty"`
}

// CellCounts counts a column's cells. Done is their sum: every row of a group ends in exactly
// one of them for each column, once the group has ended.
type CellCounts struct {
	OK      int64 `json:"ok,omitempty"`      // generated
	Failed  int64 `json:"failed,omitempty"`  // the cell failed, and its row was dropped
	Skipped int64 `json:"skipped,omitempty"` // skipped by the column's skip condition
	// Dropped counts rows of ended groups that another column dropped before this one's cell
	// was made.
	Dropped int64 `json:"dropped,omitempty"`
}

// Done is the number of the column's cells that need nothing more.
func (c CellCounts) Done() int64 { return c.OK + c.Failed + c.Skipped + c.Dropped }

// Add returns the sum of c and d.
func (c CellCounts) Add(d CellCounts) CellCounts {
	return CellCounts{OK: c.OK + d.OK, Failed: c.Failed + d.Failed, Skipped: c.Skipped + d.Skipped, Dropped: c.Dropped + d.Dropped}
}

// RequestCounts counts a model's requests: Sent attempts, of which OK and Failed were answered
// (or given up) and InFlight await their reply.
type RequestCounts struct {
	Sent     int64 `json:"sent,omitempty"`
	OK       int64 `json:"ok,omitempty"`
	Failed   int64 `json:"failed,omitempty"`
	InFlight int64 `json:"in_flight,omitempty"`
}

// Add returns the sum of c and d.
func (c RequestCounts) Add(d RequestCounts) RequestCounts {
	return RequestCounts{Sent: c.Sent + d.Sent, OK: c.OK + d.OK, Failed: c.Failed + d.Failed, InFlight: c.InFlight + d.InFlight}
}

// Bounds of a report: a run has a few dozen columns and models; a report far beyond that is
// not a worker's.
const (
	maxProgressEntries = 4096
	maxProgressName    = 1024
)

// EncodeProgress encodes a report.
func EncodeProgress(r *ProgressReport) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("progress report: %w", err)
	}
	return b, nil
}

// DecodeProgress parses a progress report and checks it: a run id that is a subject token, a
// worker and a session, a sequence number from 1, and counts that are not negative.
func DecodeProgress(b []byte) (*ProgressReport, error) {
	var r ProgressReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("progress report: %w", err)
	}
	switch {
	case ValidToken(r.Run) != nil:
		return nil, fmt.Errorf("progress report: run: %w", ValidToken(r.Run))
	case r.Worker == "" || len(r.Worker) > maxProgressName:
		return nil, errors.New("progress report: no worker, or a worker id too long")
	case r.Session == "" || len(r.Session) > maxProgressName:
		return nil, errors.New("progress report: no session, or a session id too long")
	case r.Seq == 0:
		return nil, errors.New("progress report: seq must be at least 1")
	case len(r.Columns) > maxProgressEntries || len(r.Models) > maxProgressEntries:
		return nil, fmt.Errorf("progress report: more than %d columns or models", maxProgressEntries)
	}
	for name, c := range r.Columns {
		if len(name) > maxProgressName || c.OK < 0 || c.Failed < 0 || c.Skipped < 0 || c.Dropped < 0 {
			return nil, fmt.Errorf("progress report: column %.64q: negative count or name too long", name)
		}
	}
	for name, m := range r.Models {
		if len(name) > maxProgressName || m.Sent < 0 || m.OK < 0 || m.Failed < 0 || m.InFlight < 0 {
			return nil, fmt.Errorf("progress report: model %.64q: negative count or name too long", name)
		}
	}
	return &r, nil
}
