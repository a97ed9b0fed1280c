package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// OutcomeStatus is how a worker's run of a row group ended; it travels in HeaderStatus.
type OutcomeStatus string

const (
	OutcomeCompleted OutcomeStatus = "completed" // at least one row survived every column
	OutcomeDropped   OutcomeStatus = "dropped"   // every row was dropped; nothing to write
	OutcomeFailed    OutcomeStatus = "failed"    // a fatal error; the run cannot go on
	OutcomeAborted   OutcomeStatus = "aborted"   // the run's abort cancelled it
)

// Valid reports whether s is one of the four statuses.
func (s OutcomeStatus) Valid() bool {
	switch s {
	case OutcomeCompleted, OutcomeDropped, OutcomeFailed, OutcomeAborted:
		return true
	}
	return false
}

// HeaderAbortReason carries the operator's reason on an aborted outcome, so that the controller
// reports it without parsing an error message.
const HeaderAbortReason = "Rf-Abort-Reason"

// AbortError is the cause a worker cancels a group with when its run is aborted. The scheduler
// hands it back as the group's error; the outcome carries its reason in HeaderAbortReason.
type AbortError struct{ Reason string }

func (e *AbortError) Error() string { return "run aborted: " + e.Reason }

// Outcome is a worker's reply for one row group, as it travels in the headers of a message on
// OutcomeSubject. The rows of a completed group are the message's body (read with Body, as it
// may have been offloaded), not part of Outcome.
type Outcome struct {
	Run    string
	Group  int
	Status OutcomeStatus
	Worker string
	// Stats are the group's counts; set on every status, required on completed and dropped,
	// whose rows and model usage the controller counts.
	Stats *GroupStats
	// Err says what failed (failed) or why the group stopped (aborted).
	Err string
	// AbortReason is the operator's reason (aborted only).
	AbortReason string
}

// Header encodes o as message headers.
func (o *Outcome) Header() (nats.Header, error) {
	if !o.Status.Valid() {
		return nil, fmt.Errorf("outcome of group %d: unknown status %q", o.Group, o.Status)
	}
	h := nats.Header{}
	h.Set(HeaderRun, o.Run)
	h.Set(HeaderGroup, strconv.Itoa(o.Group))
	h.Set(HeaderStatus, string(o.Status))
	h.Set(HeaderWorker, o.Worker)
	if o.Stats != nil {
		sb, err := json.Marshal(o.Stats)
		if err != nil {
			return nil, err
		}
		h.Set(HeaderStats, string(sb))
	}
	if o.Err != "" {
		h.Set(HeaderError, o.Err)
	}
	if o.AbortReason != "" {
		h.Set(HeaderAbortReason, o.AbortReason)
	}
	return h, nil
}

// ErrMalformedOutcome is wrapped by every error of DecodeOutcome.
var ErrMalformedOutcome = errors.New("malformed outcome")

// DecodeOutcome reads an outcome from its message's headers. Run and Group are what the headers
// say; callers that route by subject check them against it.
func DecodeOutcome(h nats.Header) (*Outcome, error) {
	o := &Outcome{
		Run: h.Get(HeaderRun), Status: OutcomeStatus(h.Get(HeaderStatus)), Worker: h.Get(HeaderWorker),
		Err: h.Get(HeaderError), AbortReason: h.Get(HeaderAbortReason),
	}
	if !o.Status.Valid() {
		return nil, fmt.Errorf("%w: unknown status %q", ErrMalformedOutcome, o.Status)
	}
	if g := h.Get(HeaderGroup); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: group %q", ErrMalformedOutcome, g)
		}
		o.Group = n
	}
	if s := h.Get(HeaderStats); s != "" || o.Status == OutcomeCompleted || o.Status == OutcomeDropped {
		stats, err := DecodeStats([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("%w from worker %s: %w", ErrMalformedOutcome, o.Worker, err)
		}
		o.Stats = stats
	}
	return o, nil
}
