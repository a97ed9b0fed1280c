package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/pkg/wire"
)

// shutdown ends a failed or aborted run: the run's state says so (workers check it before
// starting a group), the broadcast cancels groups in flight, queued groups are purged, and the
// sink discards what it had half-written. It runs on its own deadline: the run's context may be
// the thing that was cancelled.
func (r *run) shutdown(cause error, state wire.RunState) {
	ctx, cancel := context.WithTimeout(context.Background(), r.c.abortWait)
	defer cancel()
	log := r.c.log.With("run", r.opts.RunID)
	log.Warn("stopping run", "state", state, "cause", cause)
	if err := r.setState(ctx, state, cause.Error()); err != nil {
		log.Warn("could not record the run's state", "err", err)
	}
	r.broadcastAbort(cause)
	r.purgeQueued(ctx)
	r.awaitDrain(ctx)
	if err := r.sink.Discard(ctx); err != nil {
		log.Warn("sink could not discard partial output", "err", err)
	}
	r.cleanup(ctx)
}

// awaitDrain returns once no live worker lists a group of the run in flight in rf_workers:
// every generator call the run started has observed its cancellation (or its worker is gone —
// its entry expired). Workers list a group before they check the run's state, and the state
// says aborting before this is called, so no group can start unseen. It gives up, loudly, at
// ctx's deadline.
func (r *run) awaitDrain(ctx context.Context) {
	watch, err := r.c.res.Workers.WatchAll(ctx, jetstream.UpdatesOnly())
	if err == nil {
		defer func() { _ = watch.Stop() }()
	}
	recheck := time.NewTicker(time.Second) // an entry that expires sends no update
	defer recheck.Stop()
	for {
		busy, err := r.inFlight(ctx)
		if err == nil && len(busy) == 0 {
			return
		}
		if len(busy) > 0 && r.c.drainWaiting != nil {
			r.c.drainWaiting(busy)
		}
		var updates <-chan jetstream.KeyValueEntry
		if watch != nil {
			updates = watch.Updates()
		}
		select {
		case <-ctx.Done():
			r.c.log.Error("workers did not drain the run in time", "run", r.opts.RunID, "in_flight", busy, "err", err)
			return
		case <-updates:
		case <-recheck.C:
		}
	}
}

// inFlight lists, by worker, the groups of the run that live workers hold.
func (r *run) inFlight(ctx context.Context) (map[string][]int, error) {
	keys, err := r.c.res.Workers.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	busy := map[string][]int{}
	for key := range keys.Keys() {
		e, err := r.c.res.Workers.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		w, err := wire.DecodeWorkerRecord(e.Value())
		if err != nil {
			continue // not a worker's record: nothing to wait for
		}
		if groups := w.InFlight[r.opts.RunID]; len(groups) > 0 {
			busy[w.ID] = groups
		}
	}
	return busy, nil
}

// broadcastAbort tells the workers to cancel the run's groups in flight.
func (r *run) broadcastAbort(cause error) {
	body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: cause.Error()})
	if err := r.c.nc.Publish(r.c.layout.ControlSubject(r.opts.RunID), body); err != nil {
		r.c.log.Warn("could not broadcast the abort", "run", r.opts.RunID, "err", err)
	}
}

// purgeQueued removes the run's groups that no worker has taken yet.
func (r *run) purgeQueued(ctx context.Context) {
	stream, err := r.c.js.Stream(ctx, r.c.layout.GroupsStream())
	if err == nil {
		err = stream.Purge(ctx, jetstream.WithPurgeSubject(r.c.layout.GroupsOfRun(r.opts.RunID)))
	}
	if err != nil {
		r.c.log.Warn("could not purge queued groups", "run", r.opts.RunID, "err", err)
	}
}

// cleanup removes what the run kept on the broker: its outcome consumer, its ledger and any
// offloaded body a consumer did not delete.
func (r *run) cleanup(ctx context.Context) {
	if err := broker.PurgeLedger(ctx, r.c.js, r.c.layout, r.opts.RunID); err != nil {
		r.c.log.Debug("could not purge the ledger", "err", err)
	}
	if err := broker.PurgeCells(ctx, r.c.js, r.c.layout, r.opts.RunID, -1); err != nil {
		r.c.log.Debug("could not purge the run's kept cells", "err", err)
	}
	if err := broker.PurgeSeats(ctx, r.c.js, r.c.layout, r.opts.RunID); err != nil {
		r.c.log.Debug("could not free the run's model seats", "err", err)
	}
	if err := broker.DeleteRunPayloads(ctx, r.c.res.Payloads, r.opts.RunID); err != nil {
		r.c.log.Debug("could not delete offloaded bodies", "err", err)
	}
	if err := r.c.js.DeleteConsumer(ctx, r.c.layout.OutcomesStream(), wire.RunConsumer(r.opts.RunID)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.c.log.Debug("could not delete the outcome consumer", "err", err)
	}
}
