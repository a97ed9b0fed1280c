package worker

import (
	"context"
	"errors"
	"fmt"
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

// panicked settles group gm after a panic in its handling (pe, recovered by hold) and lets the
// worker go on with its other groups.
//
// A panic is a bug in rowforge or in the config's code, not a transient fault: every worker
// that took the group again would panic the same way. So the group is not handed back, and its
// message is not terminated either: a terminated group leaves the work queue without an outcome
// and without the max-deliveries advisory the controller watches for, so the run would wait for
// it forever. Instead the worker publishes a failed outcome naming the panic (its message; the
// stack goes to this worker's log), and the controller fails the run at once with a
// DatasetGenerationError that names the group and the panic. The outcome's message id is the
// one any outcome of this delivery has (wire.ReplyID): an outcome already stored before the
// panic wins and the failed one is dropped as a duplicate. Only when that outcome cannot be
// stored is the group handed back, as any other whose outcome cannot be: another delivery
// decides it, and MaxDeliver bounds the tries.
//
// A panic in settle itself (decided) comes after the message may have been acked: settling it
// again could double its counts or contradict the first settle, so the message is left as it
// is; unacked, it is redelivered after its AckWait, and an outcome already stored dedupes.
//
// The panic is counted once, as metrics.ErrPanic: by count, as the cause of the settled group,
// or here for one in settle, whose count has already run.
func (w *Worker) panicked(ctx context.Context, gm groupMsg, pe *scheduler.PanicError, decided bool) {
	if decided {
		gm.log.Error("panic while settling a group; leaving its message to its AckWait", "err", pe, "stack", string(pe.Stack))
		w.opts.Metrics.Error(metrics.ErrPanic)
		return
	}
	out := scheduler.Outcome{Status: scheduler.Failed, Err: pe}
	a := action{verb: publishAndAck, out: &out}
	if err := w.publishOutcome(ctx, gm.m, gm.run, gm.index, out, nil); err != nil {
		a = handBackAfter(time.Second, slog.LevelWarn, "could not publish the failed outcome of a group that panicked; handing it back",
			fmt.Errorf("%w; its outcome: %w", pe, err))
		a.fault = metrics.ErrPublish
	}
	w.settle(ctx, gm, a)
}

// cause is the error a settled group ended with: its outcome's, or the hand-back's.
func (a action) cause() error {
	if a.verb == publishAndAck && a.out != nil {
		return a.out.Err
	}
	return a.err
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
// and counts it. It counts even when settling panics (see panicked), so that the in-flight gauge
// comes back down. A group that ends with a panic — the scheduler's or the executor's — is
// logged here at ERROR, with the stack, whatever becomes of its message.
func (w *Worker) settle(ctx context.Context, gm groupMsg, a action) {
	defer w.count(a)
	if pe, ok := errors.AsType[*scheduler.PanicError](a.cause()); ok {
		gm.log.Error("a panic ended the group", "err", a.cause(), "stack", string(pe.Stack))
	}
	switch a.verb {
	case publishAndAck:
		w.ack(ctx, gm)
		gm.log.Debug("group done", "status", a.out.Status, "rows", a.out.Rows)
	case handBack:
		gm.log.Log(ctx, a.level, a.why, "err", a.err)
		_ = gm.m.NakWithDelay(a.delay)
	case terminate:
		w.term(gm.m, a.why)
	}
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
	if _, ok := errors.AsType[*scheduler.PanicError](a.cause()); ok {
		mt.Error(metrics.ErrPanic)
	}
	if a.verb == publishAndAck {
		for column, st := range a.out.Columns {
			mt.ColumnCells(column, st.Generated, st.Failed)
		}
		if _, ok := errors.AsType[*llm.UnavailableError](a.out.Err); ok {
			mt.Error(metrics.ErrModelUnavailable)
		}
		if _, ok := errors.AsType[*llm.BadReplyError](a.out.Err); ok {
			mt.Error(metrics.ErrModelBadReply)
		}
	}
	mt.GroupDone(a.status())
}

func (w *Worker) term(m jetstream.Msg, reason string) { jsx.Term(w.log, m, reason) }
