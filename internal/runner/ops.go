package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/pkg/wire"
)

// ErrNoDeployment is returned when the server holds no rowforge buckets yet.
var ErrNoDeployment = errors.New("no rowforge deployment on this server (no run has been started)")

// openBuckets opens the run and worker buckets without creating anything: the operator
// commands only read a deployment (and abort writes one record). workers is nil when the
// server holds no worker bucket yet.
func openBuckets(ctx context.Context, js jetstream.JetStream, l wire.Layout) (runs *runstore.Store, workers jetstream.KeyValue, err error) {
	runs, ok, err := runstore.Open(ctx, js, l)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, ErrNoDeployment
	}
	if workers, err = js.KeyValue(ctx, l.WorkersBucket()); errors.Is(err, jetstream.ErrBucketNotFound) {
		return runs, nil, nil
	}
	return runs, workers, err
}

// Abort records the run as aborting — a worker that misses the broadcast still sees it — and
// broadcasts the abort on the run's control subject, as `nats pub rf.control.<run>` would. With
// wait > 0 it returns the run's state once its controller has finished (aborted, failed or
// completed), or the state it has when wait runs out.
func Abort(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, l wire.Layout, run, reason string, wait time.Duration) (wire.RunState, error) {
	runs, _, err := openBuckets(ctx, js, l)
	if err != nil {
		return "", err
	}
	aborting := false
	rec, err := runs.Update(ctx, run, func(rec *wire.RunRecord) error {
		if aborting = rec.State == wire.RunRunning; !aborting {
			return runstore.ErrUnchanged // nothing to abort
		}
		rec.State, rec.Reason = wire.RunAborting, reason
		return nil
	})
	if errors.Is(err, runstore.ErrNotFound) {
		return "", &UsageError{Err: fmt.Errorf("no run %q (controller status lists the runs)", run)}
	}
	if err != nil {
		return "", err
	}
	if !aborting {
		return rec.State, nil
	}
	body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: reason})
	if err := nc.Publish(l.ControlSubject(run), body); err != nil {
		return "", err
	}
	if err := nc.Flush(); err != nil {
		return "", err
	}
	deadline := time.Now().Add(wait)
	for {
		rec, err := runs.Get(ctx, run)
		if err != nil {
			return "", err
		}
		if rec.State.Ended() || !time.Now().Before(deadline) {
			return rec.State, nil
		}
		select {
		case <-ctx.Done():
			return rec.State, ctx.Err()
		case <-time.After(200 * time.Millisecond): // the controller is draining the workers
		}
	}
}

// Status returns the runs (newest first, or just run when given) and the live workers.
func Status(ctx context.Context, js jetstream.JetStream, l wire.Layout, run string) ([]*wire.RunRecord, []*wire.WorkerRecord, error) {
	runs, workers, err := openBuckets(ctx, js, l)
	if err != nil {
		return nil, nil, err
	}
	var recs []*wire.RunRecord
	if run != "" {
		rec, err := runs.Get(ctx, run)
		if errors.Is(err, runstore.ErrNotFound) {
			return nil, nil, &UsageError{Err: fmt.Errorf("no run %q", run)}
		}
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
	} else if recs, err = runs.List(ctx); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(recs, func(a, b *wire.RunRecord) int { return b.CreatedAt.Compare(a.CreatedAt) })
	var ws []*wire.WorkerRecord
	if workers != nil {
		lister, err := workers.ListKeys(ctx)
		if err != nil {
			return nil, nil, err
		}
		for k := range lister.Keys() {
			if e, err := workers.Get(ctx, k); err == nil {
				if w, err := wire.DecodeWorkerRecord(e.Value()); err == nil {
					ws = append(ws, w)
				}
			}
		}
		slices.SortFunc(ws, func(a, b *wire.WorkerRecord) int { return cmp.Compare(a.ID, b.ID) })
	}
	return recs, ws, nil
}
