package broker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Resources are the buckets of a deployment, opened by Ensure or Lookup.
type Resources struct {
	Runs     jetstream.KeyValue
	Workers  jetstream.KeyValue
	Preview  jetstream.KeyValue
	Payloads jetstream.ObjectStore
	Commits  jetstream.KeyValue // the ledger: see wire.GroupEnd
	Seats    jetstream.KeyValue // model request seats: see wire.SeatKey
	Cells    jetstream.KeyValue // LLM cells of groups in progress: see wire.CellKey
}

// Ensure creates or updates every stream, shared consumer and bucket of the layout. It is what
// `controller setup`, local mode and the controller's run, preview and resume call (the
// controller's user holds the administration rights); workers and sinkd only Lookup. It is
// idempotent.
func Ensure(ctx context.Context, js jetstream.JetStream, l wire.Layout) (*Resources, error) {
	return EnsureReport(ctx, js, l, nil)
}

// Change is what EnsureReport did to one resource.
type Change struct {
	Kind   string // "stream", "consumer", "bucket" or "object store"
	Name   string // a consumer's as "<stream>/<consumer>"
	Action string // "created", "updated", "unchanged" or "ensured" (see action)
}

// EnsureReport is Ensure that tells report (when not nil) what it did to each resource, for an
// operator to read: it looks each one up before and compares the configuration the server
// holds before and after. Without a report it makes no extra request.
func EnsureReport(ctx context.Context, js jetstream.JetStream, l wire.Layout, report func(Change)) (*Resources, error) {
	// track returns the server's config of a stream (before the change), to compare after it.
	track := func(kind, name, stream string) func() {
		if report == nil {
			return func() {}
		}
		before, err := streamConfig(ctx, js, stream)
		return func() {
			after, aerr := streamConfig(ctx, js, stream)
			report(Change{Kind: kind, Name: name, Action: action(err, before, after, aerr)})
		}
	}
	for _, sc := range l.Streams() {
		done := track("stream", sc.Name, sc.Name)
		if _, err := settle(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, sc) }); err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
		done()
	}
	for _, c := range l.Consumers() {
		var before *jetstream.ConsumerConfig
		var lookErr error
		if report != nil {
			before, lookErr = consumerConfig(ctx, js, c.Stream, c.Config.Durable)
		}
		if _, err := settle(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
			return js.CreateOrUpdateConsumer(ctx, c.Stream, c.Config)
		}); err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", c.Config.Durable, c.Stream, err)
		}
		if report != nil {
			after, aerr := consumerConfig(ctx, js, c.Stream, c.Config.Durable)
			report(Change{Kind: "consumer", Name: c.Stream + "/" + c.Config.Durable, Action: action(lookErr, before, after, aerr)})
		}
	}
	var res Resources
	into := map[string]*jetstream.KeyValue{
		l.RunsBucket(): &res.Runs, l.WorkersBucket(): &res.Workers, l.PreviewBucket(): &res.Preview,
		l.CommitsBucket(): &res.Commits, l.SeatsBucket(): &res.Seats, l.CellsBucket(): &res.Cells,
	}
	for _, bc := range l.Buckets() {
		done := track("bucket", bc.Bucket, "KV_"+bc.Bucket)
		kv, err := settle(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateOrUpdateKeyValue(ctx, bc) })
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", bc.Bucket, err)
		}
		done()
		*into[bc.Bucket] = kv
	}
	oc := l.PayloadStore()
	done := track("object store", oc.Bucket, "OBJ_"+oc.Bucket)
	var err error
	if res.Payloads, err = settle(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return js.CreateOrUpdateObjectStore(ctx, oc)
	}); err != nil {
		return nil, fmt.Errorf("object store %s: %w", oc.Bucket, err)
	}
	done()
	return &res, nil
}

// streamConfig is the configuration the server holds for a stream.
func streamConfig(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamConfig, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return &s.CachedInfo().Config, nil
}

// consumerConfig is the configuration the server holds for a consumer.
func consumerConfig(ctx context.Context, js jetstream.JetStream, stream, name string) (*jetstream.ConsumerConfig, error) {
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		return nil, err
	}
	return &c.CachedInfo().Config, nil
}

// action names the change between a resource's configuration before (looked up with
// beforeErr) and after: absent before is "created", a different config "updated". A lookup
// that failed otherwise (a lost request) reports "ensured": it was made right, but what it
// was before is not known.
func action[C any](beforeErr error, before, after *C, afterErr error) string {
	switch {
	case errors.Is(beforeErr, jetstream.ErrStreamNotFound), errors.Is(beforeErr, jetstream.ErrConsumerNotFound):
		return "created"
	case beforeErr != nil || afterErr != nil:
		return "ensured"
	case reflect.DeepEqual(before, after):
		return "unchanged"
	default:
		return "updated"
	}
}

// settle runs one create-or-update of Ensure, again a few times when it fails: controllers (or
// a setup and a controller) that start together on a fresh cluster race to create the same stream ("stream name already in
// use" for all but one), and a cluster that has just elected its leaders times some requests
// out. Each attempt has its own deadline, so one lost request does not eat the caller's. A
// refusal is not transient and retrying it only delays the failure: when ctx ends (which a
// Denials watching it does when the server refuses the user the request) settle stops and
// returns ctx's *DeniedError cause, if it has one.
func settle[T any](ctx context.Context, create func(context.Context) (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for attempt := range 5 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err = create(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, stopped(ctx, err)
		}
		t := time.NewTimer(time.Duration(attempt+1) * 100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, stopped(ctx, err)
		case <-t.C:
		}
	}
	return v, err
}
