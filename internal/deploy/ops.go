package deploy

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

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Operator is an operator command's connection to a deployment. It creates nothing and does
// not reconnect: an operator asks once, and a server that is down is an answer too.
type Operator struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	layout  wire.Layout
	client  *Client
	denials *broker.Denials
}

// Dial resolves c and connects to the deployment it names; there is no local mode for an
// operator, the run lives on a server. Close the Operator when done.
func Dial(c *Client) (*Operator, error) {
	if err := c.Resolve(); err != nil {
		return nil, err
	}
	if c.URL == "" {
		return nil, &FlagError{Err: fmt.Errorf("--nats-url (or NATS_URL) is required: the server the run lives on")}
	}
	nc, js, denials, err := dial(c.URL, append(c.Options(RoleOperator, "rowforge-controller-ops", false), nats.MaxReconnects(0)))
	if err != nil {
		return nil, err
	}
	return &Operator{nc: nc, js: js, layout: c.Layout(), client: c, denials: denials}, nil
}

// Close closes the connection.
func (o *Operator) Close() { o.nc.Close() }

// openBuckets opens the run and worker buckets without creating anything: the operator
// commands only read a deployment (and abort writes one record). workers is nil when the
// server holds no worker bucket yet.
//
// A user the server refuses the lookup (or its replies) fails at once, saying so, rather than
// when the request times out.
func (o *Operator) openBuckets(ctx context.Context) (runs *runstore.Store, workers jetstream.KeyValue, err error) {
	ctx, stop := o.denials.Watch(ctx)
	defer stop()
	runs, ok, err := runstore.Open(ctx, o.js, o.layout)
	if denied, isDenied := errors.AsType[*broker.DeniedError](context.Cause(ctx)); isDenied {
		return nil, nil, fmt.Errorf("%w%s", denied, o.client.deniedHint(RoleOperator, denied,
			"run status and abort as the operator user (or one granted the same lookups)"))
	}
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, ErrNoDeployment
	}
	if workers, err = o.js.KeyValue(ctx, o.layout.WorkersBucket()); errors.Is(err, jetstream.ErrBucketNotFound) {
		return runs, nil, nil
	}
	return runs, workers, err
}

// Abort records the run as aborting — a worker that misses the broadcast still sees it — and
// broadcasts the abort on the run's control subject, as `nats pub rf.control.<run>` would. With
// wait > 0 it returns the run's state once its controller has finished (aborted, failed or
// completed), or the state it has when wait runs out.
func (o *Operator) Abort(ctx context.Context, run, reason string, wait time.Duration) (wire.RunState, error) {
	runs, _, err := o.openBuckets(ctx)
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
		return "", &RunIDError{Run: run, Err: fmt.Errorf("no run %q (controller status lists the runs)", run)}
	}
	if err != nil {
		return "", err
	}
	if !aborting {
		return rec.State, nil
	}
	if err := o.broadcastAbort(run, reason); err != nil {
		return "", err
	}
	return waitEnded(ctx, runs, run, time.Now().Add(wait))
}

// broadcastAbort tells the run's controller and workers to abort, flushed so that the abort
// has left this process before the command goes on to wait or exit.
func (o *Operator) broadcastAbort(run, reason string) error {
	body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: reason})
	if err := o.nc.Publish(o.layout.ControlSubject(run), body); err != nil {
		return err
	}
	return o.nc.Flush()
}

// waitEnded returns run's state once it has ended, or at deadline whatever it is then: the
// controller is draining the workers, which takes as long as their groups in hand.
func waitEnded(ctx context.Context, runs *runstore.Store, run string, deadline time.Time) (wire.RunState, error) {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	rec, err := runs.Await(wctx, run, func(rec *wire.RunRecord) bool { return rec.State.Ended() })
	if err != nil && ctx.Err() == nil && wctx.Err() != nil { // the deadline: the state it is in now
		rec, err = runs.Get(ctx, run)
	}
	if err != nil {
		return "", err
	}
	return rec.State, nil
}

// Status returns the runs (newest first, or just run when given) and the live workers.
func (o *Operator) Status(ctx context.Context, run string) ([]*wire.RunRecord, []*wire.WorkerRecord, error) {
	runs, workers, err := o.openBuckets(ctx)
	if err != nil {
		return nil, nil, err
	}
	recs, err := listRuns(ctx, runs, run)
	if err != nil {
		return nil, nil, err
	}
	ws, err := listWorkers(ctx, workers)
	if err != nil {
		return nil, nil, err
	}
	return recs, ws, nil
}

// listRuns returns run's record, or with run "" every run's, newest first.
func listRuns(ctx context.Context, runs *runstore.Store, run string) ([]*wire.RunRecord, error) {
	if run == "" {
		recs, err := runs.List(ctx)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(recs, func(a, b *wire.RunRecord) int { return b.CreatedAt.Compare(a.CreatedAt) })
		return recs, nil
	}
	rec, err := runs.Get(ctx, run)
	if errors.Is(err, runstore.ErrNotFound) {
		return nil, &RunIDError{Run: run, Err: fmt.Errorf("no run %q", run)}
	}
	if err != nil {
		return nil, err
	}
	return []*wire.RunRecord{rec}, nil
}

// listWorkers returns the workers' records by id. A record that vanished (its worker stopped)
// or does not decode between the listing and the read is left out: status shows who is live.
func listWorkers(ctx context.Context, workers jetstream.KeyValue) ([]*wire.WorkerRecord, error) {
	if workers == nil {
		return nil, nil
	}
	lister, err := workers.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var ws []*wire.WorkerRecord
	for k := range lister.Keys() {
		if e, err := workers.Get(ctx, k); err == nil {
			if w, err := wire.DecodeWorkerRecord(e.Value()); err == nil {
				ws = append(ws, w)
			}
		}
	}
	slices.SortFunc(ws, func(a, b *wire.WorkerRecord) int { return cmp.Compare(a.ID, b.ID) })
	return ws, nil
}
