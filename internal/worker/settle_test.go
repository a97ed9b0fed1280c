package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/scheduler"
)

// settledMsg records how a message was settled; the methods settle does not use panic.
type settledMsg struct {
	jetstream.Msg
	nakDelay time.Duration
	naks     int
	termed   string
}

func (m *settledMsg) Subject() string { return "rf.groups.r.0" }

func (m *settledMsg) NakWithDelay(d time.Duration) error {
	m.naks++
	m.nakDelay = d
	return nil
}

func (m *settledMsg) TermWithReason(reason string) error {
	m.termed = reason
	return nil
}

// TestSettleCounts: a message settled by hand-back or term is counted once, by the status and
// the fault its action carries, and the in-flight gauge comes back down.
func TestSettleCounts(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mt := metrics.NewWorker(prometheus.NewRegistry())
	w := &Worker{opts: Options{Metrics: mt}, log: log}

	back := &settledMsg{}
	mt.GroupStarted()
	a := handBackAfter(time.Second, slog.LevelWarn, "cannot read the run record", nil)
	a.fault = metrics.ErrRunRecord
	w.settle(context.Background(), groupMsg{m: back, log: log}, a)
	require.Equal(t, 1, back.naks)
	require.Equal(t, time.Second, back.nakDelay)
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Groups.WithLabelValues(metrics.StatusHandedBack)))
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Errors.WithLabelValues(metrics.ErrRunRecord)))

	bad := &settledMsg{}
	mt.GroupStarted()
	a = terminateFor("not a group")
	a.fault = metrics.ErrMalformedMessage
	w.settle(context.Background(), groupMsg{m: bad, log: log}, a)
	require.Equal(t, "not a group", bad.termed)
	require.Zero(t, bad.naks)
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Errors.WithLabelValues(metrics.ErrMalformedMessage)))

	require.Zero(t, testutil.ToFloat64(mt.GroupsInFlight))
	for _, s := range []string{metrics.StatusCompleted, metrics.StatusDropped, metrics.StatusFailed, metrics.StatusAborted} {
		require.Zero(t, testutil.ToFloat64(mt.Groups.WithLabelValues(s)), "a terminated message is no group")
	}
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Groups.WithLabelValues(metrics.StatusHandedBack)))
}

// A panic while settling — here in the ack, as settledMsg has no DoubleAck — still counts the
// group, so that the in-flight gauge comes back down; the panic goes on to hold, which logs and
// counts it without settling again.
func TestSettleCountsWhenItPanics(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mt := metrics.NewWorker(prometheus.NewRegistry())
	w := &Worker{opts: Options{Metrics: mt}, log: log}
	msg := &settledMsg{}
	mt.GroupStarted()
	out := scheduler.Outcome{Status: scheduler.Completed}
	require.Panics(t, func() {
		w.settle(context.Background(), groupMsg{m: msg, log: log}, action{verb: publishAndAck, out: &out})
	})
	require.Zero(t, testutil.ToFloat64(mt.GroupsInFlight))
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Groups.WithLabelValues(metrics.StatusCompleted)))

	w.panicked(context.Background(), groupMsg{m: msg, log: log}, scheduler.NewPanicError("worker", "in settle"), true)
	require.Equal(t, 1.0, testutil.ToFloat64(mt.Errors.WithLabelValues(metrics.ErrPanic)))
	require.Zero(t, msg.naks, "not settled again")
	require.Empty(t, msg.termed)
}

// A group that failed because its model stayed unavailable, or answered what is not a chat
// completion, counts under its own kind, whatever wraps the model's error.
func TestCountModelFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		kind string
	}{
		{&llm.UnavailableError{Model: "m", Last: errors.New("HTTP 503")}, metrics.ErrModelUnavailable},
		{&llm.BadReplyError{Model: "m", Err: errors.New("not a chat completion")}, metrics.ErrModelBadReply},
	} {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			mt := metrics.NewWorker(prometheus.NewRegistry())
			w := &Worker{opts: Options{Metrics: mt}}
			mt.GroupStarted()
			out := scheduler.Outcome{Status: scheduler.Failed,
				Err: &scheduler.ColumnError{Column: "q", Err: &scheduler.FatalError{Err: c.err}}}
			w.count(decide(out, false, false))
			require.Equal(t, 1.0, testutil.ToFloat64(mt.Errors.WithLabelValues(c.kind)))
			for _, other := range []string{metrics.ErrModelUnavailable, metrics.ErrModelBadReply} {
				if other != c.kind {
					require.Zero(t, testutil.ToFloat64(mt.Errors.WithLabelValues(other)))
				}
			}
			require.Equal(t, 1.0, testutil.ToFloat64(mt.Groups.WithLabelValues(metrics.StatusFailed)))
		})
	}
}
