package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/pkg/wire"
	"github.com/stretchr/testify/require"
)

// setupPublisher ensures the default layout and returns a publisher on it.
func setupPublisher(t *testing.T) (*testBundle, wire.Layout, *Resources, *Publisher) {
	t.Helper()
	b := setupJS(t)
	l := wire.DefaultLayout()
	res, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	p := NewPublisher(b.js, res.Payloads, b.nc.MaxPayload())
	return b, l, res, p
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// nextGroup fetches the next message of the workers consumer (and acks it at the end of the
// test).
func nextGroup(t *testing.T, b *testBundle, l wire.Layout) jetstream.Msg {
	t.Helper()
	cons, err := b.js.Consumer(b.ctx, l.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = msg.Ack() })
	return msg
}

func streamMsgs(t *testing.T, b *testBundle, stream string) uint64 {
	t.Helper()
	st, err := b.js.Stream(b.ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(b.ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func TestPublishInline(t *testing.T) {
	t.Parallel()
	b, l, res, p := setupPublisher(t)
	body := []byte("small body")
	require.NoError(t, p.Publish(b.ctx, l.GroupSubject("r1", 0), "r1/0/prepared",
		nats.Header{wire.HeaderRun: []string{"r1"}}, body))

	msg := nextGroup(t, b, l)
	require.Equal(t, body, msg.Data())
	require.Equal(t, "r1", msg.Headers().Get(wire.HeaderRun))
	require.Equal(t, "r1/0/prepared", msg.Headers().Get(jetstream.MsgIDHeader))
	_, ok := Offloaded(msg)
	require.False(t, ok)
	got, err := Body(b.ctx, res.Payloads, msg)
	require.NoError(t, err)
	require.Equal(t, body, got)
	got, err = Body(b.ctx, nil, msg)
	require.NoError(t, err, "an inline body needs no object store")
	require.Equal(t, body, got)
}

func TestPublishOffloadsLargeBody(t *testing.T) {
	t.Parallel()
	b, l, res, p := setupPublisher(t)
	p.MaxBody = 1024
	body := randomBytes(t, 300*1024+17) // several object-store chunks
	hdr := nats.Header{wire.HeaderRun: []string{"r1"}}
	require.NoError(t, p.Publish(b.ctx, l.GroupSubject("r1", 3), "r1/3/prepared", hdr, body))
	require.Len(t, hdr, 1, "the caller's header is not modified")

	msg := nextGroup(t, b, l)
	require.Empty(t, msg.Data())
	name, ok := Offloaded(msg)
	require.True(t, ok)
	require.Equal(t, "r1/3/prepared", name)
	require.Equal(t, name, msg.Headers().Get(wire.HeaderPayload))
	require.Len(t, msg.Headers().Get(wire.HeaderDigest), 64)
	require.Equal(t, "r1", msg.Headers().Get(wire.HeaderRun))

	got, err := Body(b.ctx, res.Payloads, msg)
	require.NoError(t, err)
	require.True(t, bytes.Equal(body, got), "offloaded body differs")

	_, err = Body(b.ctx, nil, msg)
	require.ErrorContains(t, err, "no object store")

	// Someone overwrites the object: the digest no longer matches.
	_, err = res.Payloads.PutBytes(b.ctx, name, append(bytes.Clone(body[:len(body)-1]), body[len(body)-1]^1))
	require.NoError(t, err)
	_, err = Body(b.ctx, res.Payloads, msg)
	require.ErrorContains(t, err, "digest mismatch")

	// The object is gone.
	require.NoError(t, res.Payloads.Delete(b.ctx, name))
	_, err = Body(b.ctx, res.Payloads, msg)
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound)
}

// NewPublisher leaves room for headers under the server's max payload: a body of exactly
// MaxBody travels inline, one byte more is offloaded.
func TestPublishMaxBodyEdge(t *testing.T) {
	t.Parallel()
	b, l, res, p := setupPublisher(t)
	require.EqualValues(t, b.nc.MaxPayload()-8*1024, p.MaxBody)
	hdr := nats.Header{wire.HeaderRun: []string{"r1"}, wire.HeaderGroup: []string{"0"}}
	require.NoError(t, p.Publish(b.ctx, l.GroupSubject("r1", 0), "r1/0/prepared", hdr, randomBytes(t, p.MaxBody)))
	msg := nextGroup(t, b, l)
	require.Len(t, msg.Data(), p.MaxBody)

	require.NoError(t, p.Publish(b.ctx, l.GroupSubject("r1", 1), "r1/1/prepared", hdr, randomBytes(t, p.MaxBody+1)))
	msg = nextGroup(t, b, l)
	_, ok := Offloaded(msg)
	require.True(t, ok)
	got, err := Body(b.ctx, res.Payloads, msg)
	require.NoError(t, err)
	require.Len(t, got, p.MaxBody+1)
}

func TestPublishWithoutObjectStore(t *testing.T) {
	t.Parallel()
	b, l, _, _ := setupPublisher(t)
	p := NewPublisher(b.js, nil, b.nc.MaxPayload())
	p.MaxBody = 10
	err := p.Publish(b.ctx, l.GroupSubject("r1", 0), "r1/0/prepared", nil, make([]byte, 11))
	require.ErrorContains(t, err, "no object store")
	require.Zero(t, streamMsgs(t, b, l.GroupsStream()))
}

func TestPublishDeduplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{"inline", 100},
		{"offloaded", 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, l, _, p := setupPublisher(t)
			p.MaxBody = 1024
			body := randomBytes(t, tt.size)
			for range 3 {
				require.NoError(t, p.Publish(b.ctx, l.OutcomeSubject("r1", wire.KindGroup, "2"), "r1/2/group", nil, body))
			}
			require.EqualValues(t, 1, streamMsgs(t, b, l.OutcomesStream()))
			require.NoError(t, p.Publish(b.ctx, l.OutcomeSubject("r1", wire.KindGroup, "2"), "r1/2/group-2", nil, body))
			require.EqualValues(t, 2, streamMsgs(t, b, l.OutcomesStream()), "another id is another message")
		})
	}
}

// attempt is one publish attempt as the test hook saw it.
type attempt struct {
	n   int
	err error
}

// A publish whose first attempt fails (the stream is not there yet, or does not answer in
// time) is retried with the same Msg-Id and lands once.
func TestPublishRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare makes the first attempt fail; it returns what undoes that.
		prepare func(t *testing.T, b *testBundle) func()
		// The attempt timeout must outlast the client's own retries on "no responders"
		// (2 × 250 ms) for the first case to fail with ErrNoStreamResponse.
		timeout time.Duration
		wantErr error
	}{
		{"no stream yet", func(*testing.T, *testBundle) func() { return func() {} }, 2 * time.Second, jetstream.ErrNoStreamResponse},
		{"no answer in time", func(t *testing.T, b *testBundle) func() {
			// A subscriber that never replies: the publish request waits out its attempt.
			sub, err := b.nc.SubscribeSync("retry.>")
			require.NoError(t, err)
			require.NoError(t, b.nc.Flush())
			return func() { require.NoError(t, sub.Unsubscribe()) }
		}, 250 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupJS(t)
			p := NewPublisher(b.js, nil, b.nc.MaxPayload())
			p.AttemptTimeout = tt.timeout
			p.Backoff = time.Millisecond
			undo := tt.prepare(t, b)
			var attempts []attempt
			p.onAttempt = func(n int, err error) {
				attempts = append(attempts, attempt{n, err})
				if n == 1 && err != nil {
					undo()
					_, cerr := b.js.CreateStream(b.ctx, jetstream.StreamConfig{Name: "RETRY", Subjects: []string{"retry.>"}})
					require.NoError(t, cerr)
				}
			}
			require.NoError(t, p.Publish(b.ctx, "retry.a", "run/1/group", nil, []byte("x")))
			require.Len(t, attempts, 2)
			require.ErrorIs(t, attempts[0].err, tt.wantErr)
			require.NoError(t, attempts[1].err)

			st, err := b.js.Stream(b.ctx, "RETRY")
			require.NoError(t, err)
			m, err := st.GetLastMsgForSubject(b.ctx, "retry.a")
			require.NoError(t, err)
			require.Equal(t, "run/1/group", m.Header.Get(jetstream.MsgIDHeader))
			require.EqualValues(t, 1, streamMsgs(t, b, "RETRY"))
		})
	}
}

var errStop = errors.New("test: stop")

func TestPublishCancelStopsRetrying(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	p := NewPublisher(b.js, nil, b.nc.MaxPayload())
	p.Backoff = time.Millisecond
	ctx, cancel := context.WithCancelCause(b.ctx)
	defer cancel(nil)
	var attempts []attempt
	p.onAttempt = func(n int, err error) {
		attempts = append(attempts, attempt{n, err})
		if n == 3 {
			cancel(errStop)
		}
	}
	err := p.Publish(ctx, "nostream.a", "x", nil, []byte("x"))
	require.ErrorIs(t, err, errStop, "the error wraps the cause")
	require.ErrorIs(t, err, jetstream.ErrNoStreamResponse, "and the last attempt's error")
	require.Len(t, attempts, 3, "no attempt after the cancellation")
}

// A context that ends while the publisher waits between attempts ends the wait.
func TestPublishDeadlineDuringBackoff(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	p := NewPublisher(b.js, nil, b.nc.MaxPayload())
	p.Backoff = time.Hour
	var attempts []attempt
	p.onAttempt = func(n int, err error) { attempts = append(attempts, attempt{n, err}) }
	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, "nostream.a", "x", nil, []byte("x"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Len(t, attempts, 1)
}

// An error a retry cannot fix is returned at once.
func TestPublishDoesNotRetryPermanentErrors(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	_, err := b.js.CreateStream(b.ctx, jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small.>"}, MaxMsgSize: 100})
	require.NoError(t, err)
	p := NewPublisher(b.js, nil, b.nc.MaxPayload())
	var attempts []attempt
	p.onAttempt = func(n int, err error) { attempts = append(attempts, attempt{n, err}) }
	err = p.Publish(b.ctx, "small.a", "x", nil, make([]byte, 500))
	require.Error(t, err)
	require.Len(t, attempts, 1)
}

// Zero AttemptTimeout and Backoff mean the defaults; a zero attempt timeout used to fail every
// attempt at once, forever.
func TestPublishZeroTimeoutsMeanDefaults(t *testing.T) {
	t.Parallel()
	b, l, _, p := setupPublisher(t)
	p.AttemptTimeout, p.Backoff = 0, 0
	var attempts []attempt
	p.onAttempt = func(n int, err error) { attempts = append(attempts, attempt{n, err}) }
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, p.Publish(ctx, l.GroupSubject("r1", 0), "r1/0/prepared", nil, []byte("x")))
	require.Len(t, attempts, 1)
}
