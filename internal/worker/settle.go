package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/scheduler"
)

// verb is what becomes of a group's message.
type verb int

const (
	// publishAndAck: the outcome is stored, then the message acked. The executor publishes the
	// outcome before it settles; a failed publish turns the action into a hand-back.
	publishAndAck verb = iota
	// handBack naks the message with a delay, so that another delivery decides the group.
	handBack
	// terminate ends the message's deliveries: no worker would do better with it.
	terminate
)

// action is how a group's message is settled, and what the metrics learn of it.
type action struct {
	verb  verb
	delay time.Duration // handBack: how long the server holds the message back
	why   string        // handBack: the log's message; terminate: the reason given to the server
	level slog.Level    // handBack: the log's level
	err   error         // handBack: the cause, for the log
	fault string        // a metrics.Err* kind to count, if any
	out   *scheduler.Outcome
}

// handBackAfter returns the hand-back of a group after delay. A hand-back while the worker stops
// waits past its last fetches (jsx.FetchWait), which run to their expiry after the stop.
func handBackAfter(delay time.Duration, level slog.Level, why string, err error) action {
	return action{verb: handBack, delay: delay, level: level, why: why, err: err}
}

func terminateFor(reason string) action { return action{verb: terminate, why: reason} }

// decide says what to do with a group the scheduler ran. It is pure, so that every combination
// is tested without a broker.
//
// A worker that is stopping cancelled the group itself: another worker takes it. A group that
// failed while this worker was cut off from the broker may have failed because it was cut off
// (its model calls too), and may have been redelivered meanwhile: the server takes an ack or an
// outcome of a stale delivery as any other, and a failed outcome fails the run, so such a worker
// lets a connected one decide. Every other outcome is published.
func decide(out scheduler.Outcome, stopping, reconnected bool) action {
	switch {
	case out.Status == scheduler.Aborted && stopping:
		return handBackAfter(jsx.FetchWait, slog.LevelInfo, "handing the group back", nil)
	case out.Status == scheduler.Failed && reconnected:
		return handBackAfter(jsx.FetchWait, slog.LevelWarn, "the group failed while this worker lost its connection; handing it back", out.Err)
	default:
		return action{verb: publishAndAck, out: &out}
	}
}

// status is the group's status for the metrics: none for a terminated message, which was not
// a group this worker ran.
func (a action) status() string {
	switch a.verb {
	case publishAndAck:
		return string(a.out.Status)
	case handBack:
		return metrics.StatusHandedBack
	default:
		return ""
	}
}

// groupMsg is a message in the executor's hands, with what settling it needs.
type groupMsg struct {
	m     jetstream.Msg
	run   string // "" until the subject is parsed
	index int
	log   *slog.Logger
}

// settle carries out a: the one place where the executor acks, naks or terms a group's message,
// and counts it.
func (w *Worker) settle(ctx context.Context, gm groupMsg, a action) {
	switch a.verb {
	case publishAndAck:
		w.ack(ctx, gm)
		// Tests count each group's generations from this line (e2e's kill -9 and resume).
		gm.log.Debug("group done", "status", a.out.Status, "rows", a.out.Rows)
	case handBack:
		gm.log.Log(ctx, a.level, a.why, "err", a.err)
		_ = gm.m.NakWithDelay(a.delay)
	case terminate:
		w.term(gm.m, a.why)
	}
	w.count(a)
}

// ack acks a group whose outcome is stored, then drops what only a redelivery would have read:
// its offloaded body and its kept cells.
func (w *Worker) ack(ctx context.Context, gm groupMsg) {
	if err := gm.m.DoubleAck(ctx); err != nil {
		gm.log.Debug("ack failed after the outcome was stored; a redelivery will be deduplicated", "err", err)
		return
	}
	broker.DeleteOffloaded(ctx, w.res.Payloads, gm.m)
	if err := broker.PurgeCells(ctx, w.js, w.layout, gm.run, gm.index); err != nil {
		gm.log.Debug("could not purge the group's kept cells", "err", err)
	}
}

// count records a settled group in the metrics: its fault, its cells, then its status, so that
// a group counted done has its cells counted too.
func (w *Worker) count(a action) {
	mt := w.opts.Metrics
	if a.fault != "" {
		mt.Error(a.fault)
	}
	if a.verb == publishAndAck {
		for column, st := range a.out.Columns {
			mt.ColumnCells(column, st.Generated, st.Failed)
		}
		if _, ok := errors.AsType[*llm.UnavailableError](a.out.Err); ok {
			mt.Error(metrics.ErrModelUnavailable)
		}
	}
	mt.GroupDone(a.status())
}

func (w *Worker) term(m jetstream.Msg, reason string) { jsx.Term(w.log, m, reason) }
