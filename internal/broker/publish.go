package broker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Publisher publishes rowforge messages so that a retry can never duplicate one: every message
// carries a Nats-Msg-Id, each attempt has its own short timeout (a publish across a leader
// change otherwise hangs for the caller's whole deadline), and a failed attempt is retried with
// the same id. Bodies over the server's max payload go to the object store, and the message
// carries their name and digest instead.
type Publisher struct {
	js       jetstream.JetStream
	payloads jetstream.ObjectStore
	// MaxBody is the largest body sent inline; bigger ones are offloaded.
	MaxBody int
	// AttemptTimeout bounds one publish attempt (default 2 s).
	AttemptTimeout time.Duration
	// Backoff is the pause between attempts (default 100 ms, doubling to 2 s).
	Backoff time.Duration

	// onAttempt, when set (by tests), is called after every attempt with its number (from 1)
	// and its error, before the publisher decides whether to retry.
	onAttempt func(n int, err error)
}

// NewPublisher returns a publisher for a connection whose server max payload is maxPayload.
func NewPublisher(js jetstream.JetStream, payloads jetstream.ObjectStore, maxPayload int64) *Publisher {
	// Headers and the protocol line take some of the max payload: leave room for them.
	return &Publisher{js: js, payloads: payloads, MaxBody: int(maxPayload) - 8*1024,
		AttemptTimeout: defaultAttemptTimeout, Backoff: defaultBackoff}
}

// Publish sends body to subject with the given id (the dedup key, `<run>/<group>/<kind>`) and
// headers. It returns once the stream has stored the message, or when ctx ends.
func (p *Publisher) Publish(ctx context.Context, subject, id string, hdr nats.Header, body []byte) error {
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: body}
	for k, v := range hdr {
		msg.Header[k] = v
	}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if len(body) > p.MaxBody {
		if p.payloads == nil {
			return fmt.Errorf("publish %s: body of %d bytes exceeds %d and no object store is configured", subject, len(body), p.MaxBody)
		}
		sum := sha256.Sum256(body)
		name := id
		err := p.retry(ctx, func(actx context.Context) error {
			_, err := p.payloads.Put(actx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(body))
			return err
		})
		if err != nil {
			return fmt.Errorf("publish %s: offload body to object store: %w", subject, err)
		}
		msg.Header.Set(wire.HeaderPayload, name)
		msg.Header.Set(wire.HeaderDigest, hex.EncodeToString(sum[:]))
		msg.Data = nil
	}
	err := p.retry(ctx, func(actx context.Context) error {
		_, err := p.js.PublishMsg(actx, msg, jetstream.WithMsgID(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// Defaults for a Publisher's zero fields.
const (
	defaultAttemptTimeout = 2 * time.Second
	defaultBackoff        = 100 * time.Millisecond
	maxBackoff            = 2 * time.Second
)

// retry runs attempt with a fresh short deadline until it succeeds, fails with an error a retry
// cannot fix, or ctx ends. A zero or negative AttemptTimeout or Backoff means the default (a
// zero attempt timeout would otherwise fail every attempt at once, forever).
func (p *Publisher) retry(ctx context.Context, attempt func(context.Context) error) error {
	timeout := p.AttemptTimeout
	if timeout <= 0 {
		timeout = defaultAttemptTimeout
	}
	wait := p.Backoff
	if wait <= 0 {
		wait = defaultBackoff
	}
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := attempt(actx)
		cancel()
		if p.onAttempt != nil {
			p.onAttempt(n, err)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("after %d attempts: %w (last: %w)", n, context.Cause(ctx), err)
		}
		if !retryable(err) {
			return err
		}
		slog.Debug("publish attempt failed; retrying with the same id", "attempt", n, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("after %d attempts: %w (last: %w)", n, context.Cause(ctx), err)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// retryable separates transient broker trouble (timeouts, no responders during a leader
// election, a reconnect) from errors a retry cannot fix.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected)
}

// Body returns a received message's body, fetching it from the object store when it was
// offloaded and checking its digest.
func Body(ctx context.Context, payloads jetstream.ObjectStore, msg jetstream.Msg) ([]byte, error) {
	name := msg.Headers().Get(wire.HeaderPayload)
	if name == "" {
		return msg.Data(), nil
	}
	if payloads == nil {
		return nil, fmt.Errorf("message on %s points at object %q but no object store is configured", msg.Subject(), name)
	}
	body, err := payloads.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("fetch offloaded body %q: %w", name, err)
	}
	sum := sha256.Sum256(body)
	if want := msg.Headers().Get(wire.HeaderDigest); want != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("offloaded body %q: digest mismatch", name)
	}
	return body, nil
}

// Offloaded reports whether msg's body lives in the object store, and under which name.
func Offloaded(msg jetstream.Msg) (string, bool) {
	name := msg.Headers().Get(wire.HeaderPayload)
	return name, name != ""
}

// DeleteOffloaded removes msg's offloaded body once its consumer has settled the message. It is
// best effort: the end-of-run sweep and the bucket's TTL catch what it misses.
func DeleteOffloaded(ctx context.Context, payloads jetstream.ObjectStore, msg jetstream.Msg) {
	if name, ok := Offloaded(msg); ok && payloads != nil {
		_ = payloads.Delete(ctx, name)
	}
}

// DeleteRunPayloads removes every offloaded body of a run (names start with "<run>/").
func DeleteRunPayloads(ctx context.Context, payloads jetstream.ObjectStore, run string) error {
	infos, err := payloads.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, info := range infos {
		if len(info.Name) > len(run) && info.Name[:len(run)+1] == run+"/" {
			if err := payloads.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return err
			}
		}
	}
	return nil
}
