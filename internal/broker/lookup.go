package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// MissingError is what Lookup returns when a resource of the deployment is not on the server:
// nobody has run `controller setup` (nor a controller run) yet. A service that gets it waits,
// as the resource appears once an operator sets the deployment up.
type MissingError struct {
	Kind string // "stream", "consumer", "bucket" or "object store"
	Name string // its name, a consumer's as "<stream>/<consumer>"
	Err  error  // the server's answer (jetstream.ErrStreamNotFound, ...)
}

func (e *MissingError) Error() string { return fmt.Sprintf("%s %s missing", e.Kind, e.Name) }

func (e *MissingError) Unwrap() error { return e.Err }

// Needs is what a role looks up (and so what its user must be allowed to look up): the
// streams it publishes to, the shared consumer it pulls from, the buckets it opens.
type Needs struct {
	Streams   []string
	Consumers [][2]string // stream, durable consumer
	Buckets   []string    // key-value buckets
	Payloads  bool        // the object store of offloaded bodies
}

// WorkerNeeds is what a worker opens: outcomes go to the outcomes stream, groups come from the
// workers' consumer; run records, its heartbeat, seats, kept cells and large bodies are buckets.
func WorkerNeeds(l wire.Layout) Needs {
	return Needs{
		Streams:   []string{l.OutcomesStream()},
		Consumers: [][2]string{{l.GroupsStream(), wire.WorkersConsumer}},
		Buckets:   []string{l.RunsBucket(), l.WorkersBucket(), l.SeatsBucket(), l.CellsBucket()},
		Payloads:  true,
	}
}

// SinkdNeeds is what sinkd opens: commits go to the outcomes stream, finalized groups come from
// sinkd's consumer; run records, the preview bucket and large bodies are buckets.
func SinkdNeeds(l wire.Layout) Needs {
	return Needs{
		Streams:   []string{l.OutcomesStream()},
		Consumers: [][2]string{{l.SinkStream(), wire.SinkdConsumer}},
		Buckets:   []string{l.RunsBucket(), l.PreviewBucket()},
		Payloads:  true,
	}
}

// Lookup opens what need names without creating or changing anything, so that its caller
// needs no JetStream administration rights (only INFO requests). The first resource that is
// not on the server is returned as a *MissingError; other errors (a server without
// JetStream, a lost request) come back wrapped. Fields of Resources that need does not name
// stay nil.
func Lookup(ctx context.Context, js jetstream.JetStream, l wire.Layout, need Needs) (*Resources, error) {
	for _, name := range need.Streams {
		if _, err := js.Stream(ctx, name); err != nil {
			return nil, lookupErr("stream", name, err, jetstream.ErrStreamNotFound)
		}
	}
	for _, c := range need.Consumers {
		if _, err := js.Consumer(ctx, c[0], c[1]); err != nil {
			return nil, lookupErr("consumer", c[0]+"/"+c[1], err, jetstream.ErrConsumerNotFound, jetstream.ErrStreamNotFound)
		}
	}
	var res Resources
	into := map[string]*jetstream.KeyValue{
		l.RunsBucket(): &res.Runs, l.WorkersBucket(): &res.Workers, l.PreviewBucket(): &res.Preview,
		l.CommitsBucket(): &res.Commits, l.SeatsBucket(): &res.Seats, l.CellsBucket(): &res.Cells,
	}
	for _, b := range need.Buckets {
		dst, ok := into[b]
		if !ok {
			return nil, fmt.Errorf("lookup: %s is not a bucket of the layout", b)
		}
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			return nil, lookupErr("bucket", b, err, jetstream.ErrBucketNotFound, jetstream.ErrStreamNotFound)
		}
		*dst = kv
	}
	if need.Payloads {
		obs, err := js.ObjectStore(ctx, l.PayloadsBucket())
		if err != nil {
			return nil, lookupErr("object store", l.PayloadsBucket(), err, jetstream.ErrBucketNotFound, jetstream.ErrStreamNotFound)
		}
		res.Payloads = obs
	}
	return &res, nil
}

// lookupErr is a *MissingError when err is one of notFound, else err with what was looked up.
func lookupErr(kind, name string, err error, notFound ...error) error {
	for _, nf := range notFound {
		if errors.Is(err, nf) {
			return &MissingError{Kind: kind, Name: name, Err: err}
		}
	}
	return fmt.Errorf("look up %s %s: %w", kind, name, err)
}
