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

	"github.com/rowforge/rowforge/pkg/wire"
)

// ErrNoDeployment is returned when the server holds no rowforge buckets yet.
var ErrNoDeployment = errors.New("no rowforge deployment on this server (no run has been started)")

// openBuckets opens the run and worker buckets without creating anything: the operator
// commands only read a deployment (and abort writes one record).
func openBuckets(ctx context.Context, js jetstream.JetStream, l wire.Layout) (runs, workers jetstream.KeyValue, err error) {
	if runs, err = js.KeyValue(ctx, l.RunsBucket()); errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, ErrNoDeployment
	} else if err != nil {
		return nil, nil, err
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
func Abort(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, l wire.Layout, run, reason string, wait time.Duration) (string, error) {
	runs, _, err := openBuckets(ctx, js, l)
	if err != nil {
		return "", err
	}
	for { // compare-and-swap, like the controller's own writes
		e, err := runs.Get(ctx, run)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", &UsageError{Err: fmt.Errorf("no run %q (controller status lists the runs)", run)}
		}
		if err != nil {
			return "", err
		}
		rec, err := wire.DecodeRunRecord(e.Value())
		if err != nil {
			return "", err
		}
		if rec.State != wire.RunRunning {
			return rec.State, nil // nothing to abort
		}
		rec.State, rec.Reason = wire.RunAborting, reason
		b, _ := json.Marshal(rec)
		if _, err = runs.Update(ctx, run, b, e.Revision()); err == nil {
			break
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", err
		}
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
		e, err := runs.Get(ctx, run)
		if err != nil {
			return "", err
		}
		rec, err := wire.DecodeRunRecord(e.Value())
		if err != nil {
			return "", err
		}
		if rec.State != wire.RunRunning && rec.State != wire.RunAborting || !time.Now().Before(deadline) {
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
	keys := []string{run}
	if run == "" {
		keys = nil
		lister, err := runs.ListKeys(ctx)
		if err != nil {
			return nil, nil, err
		}
		for k := range lister.Keys() {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		e, err := runs.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if run != "" {
				return nil, nil, &UsageError{Err: fmt.Errorf("no run %q", run)}
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if rec, err := wire.DecodeRunRecord(e.Value()); err == nil {
			recs = append(recs, rec)
		}
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
