package llm

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RequestError is a request the endpoint refused for good (a 4xx other than 408/429, an
// unknown model, a reply that cannot be used): the row is dropped, and it counts toward the
// run's early shutdown.
type RequestError struct {
	Model    string // the alias
	Endpoint string
	Status   int // HTTP status; 0 when the reply itself was the problem
	Err      error
}

func (e *RequestError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("model %q at %s: HTTP %d: %v", e.Model, e.Endpoint, e.Status, e.Err)
	}
	return fmt.Sprintf("model %q at %s: %v", e.Model, e.Endpoint, e.Err)
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

// BadReplyAttempts is how many replies that are not what was asked for (*BadReplyError) one
// request gets before it fails: a glitch passes, a misconfigured endpoint fails the run at once
// instead of after the patience.
const BadReplyAttempts = 3

// SnippetBytes bounds the start of a bad reply's body that an error shows.
const SnippetBytes = 200

// BadReplyError is a successful HTTP reply that is not what was asked for — an HTML page, an
// empty or cut-off body, JSON of another shape — from an endpoint that answered: a wrong base
// URL, a proxy or web UI in the way, a server that does not speak the OpenAI API. Waiting does
// not fix that, so it is retried only BadReplyAttempts times and then fails the run, naming the
// model, the endpoint and what came back. (A JSON body sent with another Content-Type, such as
// text/plain, is read as JSON: that is no bad reply.)
type BadReplyError struct {
	Model       string // the alias
	Name        string // the model's name at the endpoint
	Endpoint    string
	Status      int // HTTP status
	ContentType string
	// Snippet is the start of the body, at most SnippetBytes, made printable; "" for an empty
	// body.
	Snippet string
	Err     error // what is wrong with the body
}

func (e *BadReplyError) Error() string {
	msg := fmt.Sprintf("model %q (%s) at %s: bad reply (HTTP %d, Content-Type %q): %v",
		e.Model, e.Name, e.Endpoint, e.Status, e.ContentType, e.Err)
	if e.Snippet != "" {
		msg += fmt.Sprintf("; it sent %q", e.Snippet)
	}
	return msg
}

func (e *BadReplyError) Unwrap() error { return e.Err }

// snippet returns the start of body for an error message: at most SnippetBytes of valid UTF-8,
// with each run of white space and control characters made one space.
func snippet(body []byte) string {
	var b strings.Builder
	space := false
	for len(body) > 0 && b.Len() < SnippetBytes {
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		case r == utf8.RuneError && size == 1, !unicode.IsPrint(r):
			r = '?'
		}
		sep := ""
		if space {
			sep = " "
		}
		if b.Len()+len(sep)+utf8.RuneLen(r) > SnippetBytes {
			break
		}
		b.WriteString(sep)
		b.WriteRune(r)
		space = false
	}
	return b.String()
}

// transientError is a failure worth another attempt: 429, 5xx, 408, a timeout or a broken
// connection.
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
