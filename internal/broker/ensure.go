package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Resources are the buckets of a deployment, opened by Ensure.
type Resources struct {
	Runs     jetstream.KeyValue
	Workers  jetstream.KeyValue
	Preview  jetstream.KeyValue
	Payloads jetstream.ObjectStore
	Commits  jetstream.KeyValue // the ledger: see wire.GroupEnd
	Seats    jetstream.KeyValue // model request seats: see wire.SeatKey
	Cells    jetstream.KeyValue // LLM cells of groups in progress: see wire.CellKey
}

// Ensure creates or updates every stream, shared consumer and bucket of the layout. Every
// process calls it at start, so whichever starts first prepares the server; it is idempotent.
func Ensure(ctx context.Context, js jetstream.JetStream, l wire.Layout) (*Resources, error) {
	for _, sc := range l.Streams() {
		if _, err := settle(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, sc) }); err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	for _, c := range l.Consumers() {
		if _, err := settle(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
			return js.CreateOrUpdateConsumer(ctx, c.Stream, c.Config)
		}); err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", c.Config.Durable, c.Stream, err)
		}
	}
	var res Resources
	into := map[string]*jetstream.KeyValue{
		l.RunsBucket(): &res.Runs, l.WorkersBucket(): &res.Workers, l.PreviewBucket(): &res.Preview,
		l.CommitsBucket(): &res.Commits, l.SeatsBucket(): &res.Seats, l.CellsBucket(): &res.Cells,
	}
	for _, bc := range l.Buckets() {
		kv, err := settle(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateOrUpdateKeyValue(ctx, bc) })
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", bc.Bucket, err)
		}
		*into[bc.Bucket] = kv
	}
	oc := l.PayloadStore()
	var err error
	if res.Payloads, err = settle(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return js.CreateOrUpdateObjectStore(ctx, oc)
	}); err != nil {
		return nil, fmt.Errorf("object store %s: %w", oc.Bucket, err)
	}
	return &res, nil
}

// settle runs one create-or-update of Ensure, again a few times when it fails: processes that
// start together on a fresh cluster race to create the same stream ("stream name already in
// use" for all but one), and a cluster that has just elected its leaders times some requests
// out. Each attempt has its own deadline, so one lost request does not eat the caller's.
func settle[T any](ctx context.Context, create func(context.Context) (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for attempt := range 5 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err = create(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(time.Duration(attempt+1) * 100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
	return v, err
}
