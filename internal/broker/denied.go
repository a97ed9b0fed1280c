package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// DeniedError is the server's refusal, for the connection's user's lack of permission, of a
// publish or a subscription. The server does not answer the operation (it cannot: a refused
// request never reaches its responder), it only tells the connection apart from any call, so
// a request waiting for its reply would time out; Denials makes it this error instead.
type DeniedError struct {
	Op      string // "publish", "subscription" or "publish with reply": what the server refused
	Subject string // the subject refused (the reply subject for "publish with reply")
	Err     error  // what nats.go reported: it wraps nats.ErrPermissionViolation
}

func (e *DeniedError) Error() string {
	if e.Subject == "" {
		return fmt.Sprintf("the server refused this user an operation (%v)", e.Err)
	}
	return fmt.Sprintf("the server refused %q to this user (permissions violation on %s)", e.Subject, e.Op)
}

func (e *DeniedError) Unwrap() error { return e.Err }

// JetStreamAPI reports whether the refusal is of a request to the JetStream API ($JS.API.… or,
// with a domain, $JS.<domain>.API.…): the user lacks the right to make it.
func (e *DeniedError) JetStreamAPI() bool {
	rest, ok := strings.CutPrefix(e.Subject, "$JS.")
	if e.Op != "publish" || !ok {
		return false
	}
	first, after, _ := strings.Cut(rest, ".")
	return first == "API" || first != "ACK" && strings.HasPrefix(after, "API.")
}

// ParseDenied reads the denied operation and subject out of an asynchronous error of
// nats.go; ok is false when err is not a permissions violation. It is the one place rowforge
// reads the text of such an error: nats.go has a typed error (nats.ErrPermissionViolation)
// for the kind but none for the subject, which only the server's message holds. nats-server
// writes it as `Permissions Violation for Publish to "<subject>"`, `... for Subscription to
// "<subject>"` (maybe followed by ` using queue "<queue>"` or ` (sid "<sid>")`) and `... for
// Publish with Reply of "<reply>"`, the subject quoted with Go's %q; nats.go prefixes
// "nats: permissions violation: ". A violation whose text has another shape still returns
// ok, with Op "unknown" and no Subject: Denials cannot tell what was refused from it, and leave
// the calls to their retries as before.
func ParseDenied(err error) (d *DeniedError, ok bool) {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil, false
	}
	d = &DeniedError{Op: "unknown", Err: err}
	text := err.Error()
	const marker = "Permissions Violation for "
	i := strings.Index(text, marker)
	if i < 0 {
		return d, true
	}
	rest := text[i+len(marker):]
	for _, op := range []struct{ text, name string }{
		{"Publish with Reply of ", "publish with reply"},
		{"Publish to ", "publish"},
		{"Subscription to ", "subscription"},
	} {
		after, found := strings.CutPrefix(rest, op.text)
		if !found {
			continue
		}
		quoted, qerr := strconv.QuotedPrefix(after)
		if qerr != nil {
			return d, true
		}
		subject, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			return d, true
		}
		d.Op, d.Subject = op.name, subject
		return d, true
	}
	return d, true
}

// Denials ends the calls on one connection that wait for what its user may not have: a
// JetStream API request the server refused, or a subscription to the connection's own reply
// subjects (then no request can get its answer). Without it such a call retries, then times
// out, as if the server were slow. Install Handle as (or call it from) the connection's
// nats.ErrHandler and run each call in a context of Watch; the zero value is ready to use
// and a nil *Denials watches nothing.
//
// Only denials that arrive while a context is watched end it: the server's refusal is an
// event, not a state rowforge can ask about later, and a refusal from before the call may
// concern something the call does not need.
type Denials struct {
	mu      sync.Mutex
	next    int
	watched map[int]context.CancelCauseFunc
}

// Watch returns a context that ends, with a *DeniedError as its cause (context.Cause), when the
// server refuses a JetStream API request or the reply subscription of the connection. stop
// releases it; call it when the call returns.
func (d *Denials) Watch(ctx context.Context) (watched context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	if d == nil {
		return ctx, func() { cancel(nil) }
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.watched == nil {
		d.watched = map[int]context.CancelCauseFunc{}
	}
	id := d.next
	d.next++
	d.watched[id] = cancel
	return ctx, func() {
		d.mu.Lock()
		delete(d.watched, id)
		d.mu.Unlock()
		cancel(nil)
	}
}

// Handle is a nats.ErrHandler: it ends the watched contexts when err is a refusal that a
// call on nc waits for in vain (see Denials). It reports nothing itself; chain it with the
// handler that logs.
func (d *Denials) Handle(nc *nats.Conn, _ *nats.Subscription, err error) {
	if d == nil {
		return
	}
	denied, ok := ParseDenied(err)
	if !ok || !fatalTo(nc, denied) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cancel := range d.watched {
		cancel(denied)
	}
}

// fatalTo reports whether a call on nc can no longer succeed after the denial: a JetStream
// API request, or the subscription to the connection's reply subjects (nats.go's request
// multiplexer subscribes to "<inbox prefix>.<token>.*"). Other refusals (a publish of data)
// are for their own caller to notice.
func fatalTo(nc *nats.Conn, d *DeniedError) bool {
	if d.JetStreamAPI() {
		return true
	}
	if d.Op != "subscription" {
		return false
	}
	inbox := strings.TrimSuffix(nats.InboxPrefix, ".")
	if nc != nil && nc.Opts.InboxPrefix != "" {
		inbox = nc.Opts.InboxPrefix
	}
	return strings.HasPrefix(d.Subject, inbox+".")
}

// stopped is the error of a call of settle whose context ended: the cause when the context
// was ended for a denial (a *DeniedError, which the call's own error — a bare "context
// canceled" — does not name), else err.
func stopped(ctx context.Context, err error) error {
	if denied, ok := errors.AsType[*DeniedError](context.Cause(ctx)); ok {
		return denied
	}
	return err
}
