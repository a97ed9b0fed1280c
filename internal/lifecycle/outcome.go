package lifecycle

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// outcome handles one message of the run's outcome consumer.
func (r *run) outcome(ctx context.Context, m jetstream.Msg) error {
	g, st, ok := r.route(m)
	if !ok {
		return nil
	}
	o, err := wire.DecodeOutcome(m.Headers())
	if err != nil {
		_ = m.Ack()
		return r.genErr(g, err)
	}
	if o.Status == wire.OutcomeCompleted || o.Status == wire.OutcomeDropped {
		if stop, err := r.checkGate(ctx, o.Stats); err != nil {
			_ = m.Ack()
			return r.genErr(g, err)
		} else if stop {
			_ = m.Ack()
			return nil
		}
	}
	switch o.Status {
	case wire.OutcomeCompleted:
		return r.write(ctx, g, st, m, o)
	case wire.OutcomeDropped:
		r.c.log.Warn("every row of the group was dropped", "run", r.opts.RunID, "group", g)
		return r.settle(ctx, g, wire.GroupEnd{Status: wire.EndDropped, Usage: o.Stats.Models}, m)
	case wire.OutcomeFailed:
		_ = m.Ack()
		return r.genErr(g, fmt.Errorf("worker %s reported the group failed: %s", o.Worker, o.Err))
	case wire.OutcomeAborted:
		// A worker reports a group aborted only when the run's abort cancelled it (a stopping
		// worker hands its groups back): the run is being aborted, whichever message came first.
		_ = m.Ack()
		return &AbortedError{RunID: r.opts.RunID, Reason: o.AbortReason}
	}
	return nil
}

// route finds the active group an outcome message is for. Anything else is settled here and
// ok is false: a message that is not an outcome of this run is terminated, a drain ack (which
// matters when aborting; see shutdown) is acked, and so is a duplicate or late outcome — of a
// group that ended, whose outcome is being written, or of a run stopping early.
func (r *run) route(m jetstream.Msg) (g int, st *groupState, ok bool) {
	subj, err := r.c.layout.ParseSubject("outcomes", m.Subject())
	if err != nil || subj.Run != r.opts.RunID {
		r.term(m, fmt.Sprintf("not an outcome of run %s: %v", r.opts.RunID, err))
		return 0, nil, false
	}
	if subj.Kind == wire.KindDrain {
		_ = m.Ack()
		return 0, nil, false
	}
	g, err = wire.GroupIndex(subj.ID)
	if err != nil || g >= r.plan.Groups() {
		r.term(m, fmt.Sprintf("no such group %q in run %s", subj.ID, r.opts.RunID))
		return 0, nil, false
	}
	st = r.active[g]
	if r.ended[g] || st == nil || st.outcome != nil || r.partial {
		_ = m.Ack()
		return 0, nil, false
	}
	return g, st, true
}

// onMaxDeliveries handles the max-deliveries advisories: a group no worker could finish in
// MaxDeliver tries would otherwise be waited for forever, so it fails the run.
func (r *run) onMaxDeliveries(ctx context.Context) nats.MsgHandler {
	return func(m *nats.Msg) {
		if g, n, ok := r.exhaustedGroup(ctx, m.Data); ok {
			r.emit(ctx, event{kind: evFailed, group: g, err: &DeliveriesExhaustedError{Group: g, Deliveries: n}})
		}
	}
}

// exhaustedGroup reads a max-deliveries advisory and reports whether it names one of this
// run's groups. A max-delivered message stays in the work queue, so its subject can be read.
func (r *run) exhaustedGroup(ctx context.Context, advisory []byte) (int, uint64, bool) {
	a, err := wire.DecodeMaxDeliveries(advisory)
	if err != nil {
		r.c.log.Warn("ignored an advisory", "err", err)
		return 0, 0, false
	}
	stream, err := r.c.js.Stream(ctx, r.c.layout.GroupsStream())
	if err != nil {
		return 0, 0, false
	}
	msg, err := stream.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		return 0, 0, false
	}
	subj, err := r.c.layout.ParseSubject("groups", msg.Subject)
	if err != nil || subj.Run != r.opts.RunID {
		return 0, 0, false
	}
	g, err := wire.GroupIndex(subj.ID)
	return g, a.Deliveries, err == nil
}

// checkGate feeds a group's task results to the early-shutdown gate. When it trips, the run
// fails — or, with AllowPartial, stops early (stop is true and the group is not written).
func (r *run) checkGate(ctx context.Context, stats *wire.GroupStats) (stop bool, err error) {
	if r.gate == nil {
		return false, nil
	}
	ok, failed := 0, 0
	for _, c := range stats.Columns {
		ok += c.Generated
		failed += c.Failed
	}
	if !r.gate.record(ok, failed) {
		return false, nil
	}
	trip := &EarlyShutdownError{Rate: r.opts.ShutdownErrorRate, Window: len(r.gate.window), Errors: r.gate.errs}
	if !r.opts.AllowPartial {
		return true, trip
	}
	r.beginPartial(ctx, trip)
	return true, nil
}

// beginPartial stops a run early but keeps it: no group is admitted or written any more, the
// workers drop what they hold, and the loop finalizes once the writes in progress are committed.
func (r *run) beginPartial(ctx context.Context, cause error) {
	r.c.log.Warn("stopping early, keeping the committed groups", "run", r.opts.RunID, "cause", cause)
	r.partial = true
	r.stopAdmission()
	for g := range r.active {
		if r.active[g].outcome == nil { // not being written: it will not be
			delete(r.active, g)
		}
	}
	if err := r.setState(ctx, wire.RunAborting, cause.Error()); err != nil {
		r.c.log.Warn("could not record the run's state", "err", err)
	}
	r.broadcastAbort(cause)
	r.purgeQueued(ctx)
}
