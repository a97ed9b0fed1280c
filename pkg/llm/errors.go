package llm

import (
	"fmt"
	"time"
)

// RequestError is a request the endpoint refused for good (a 4xx other than 408/429, an
// unknown model, a reply that cannot be used): the row is dropped, and it counts toward the
// run's early shutdown.
type RequestError struct {
	Model  string // the alias
	Status int    // HTTP status; 0 when the reply itself was the problem
	Err    error
}

func (e *RequestError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("model %q: HTTP %d: %v", e.Model, e.Status, e.Err)
	}
	return fmt.Sprintf("model %q: %v", e.Model, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// UnavailableError is a model that answered nothing but errors for longer than the patience:
// waiting longer would stall the run with no end in sight, so the run fails, naming the model.
type UnavailableError struct {
	Model    string // the alias
	Endpoint string
	For      time.Duration
	Last     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("model %q at %s answered only errors for %s (patience exceeded); last: %v",
		e.Model, e.Endpoint, e.For.Round(time.Second), e.Last)
}

func (e *UnavailableError) Unwrap() error { return e.Last }

// transientError is a failure worth another attempt: 429, 5xx, 408, a timeout, a broken
// connection or a garbled reply.
type transientError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *transientError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("HTTP %d: %v", e.status, e.err)
	}
	return e.err.Error()
}

func (e *transientError) Unwrap() error { return e.err }
