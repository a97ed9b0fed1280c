package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/pkg/wire"
)

// publishRecord writes the worker's rf_workers entry: its heartbeat and its groups in flight.
func (w *Worker) publishRecord(ctx context.Context) {
	w.announce.Lock()
	defer w.announce.Unlock()
	w.mu.Lock()
	rec := wire.WorkerRecord{ID: w.opts.ID, InFlight: map[string][]int{}, Updated: time.Now().UTC()}
	for run, groups := range w.inflight {
		for g := range groups {
			rec.InFlight[run] = append(rec.InFlight[run], g)
		}
	}
	w.mu.Unlock()
	rec.Demand = w.demand()
	b, _ := json.Marshal(rec)
	if _, err := w.res.Workers.Put(ctx, wire.WorkerKey(w.opts.ID), b); err != nil && ctx.Err() == nil {
		w.log.Warn("could not publish the worker's record", "err", err)
		w.opts.Metrics.Error(metrics.ErrHeartbeat)
		return
	}
	w.announced = rec.Demand
}

// demand is this worker's requests for each capped endpoint (in flight and waiting), by run and
// endpoint; runs and endpoints with none are left out.
func (w *Worker) demand() map[string]map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out map[string]map[string]int
	for id, e := range w.runs {
		for _, s := range e.seats {
			if d := s.demand(); d > 0 {
				if out == nil {
					out = map[string]map[string]int{}
				}
				if out[id] == nil {
					out[id] = map[string]int{}
				}
				out[id][s.model] = d
			}
		}
	}
	return out
}
