package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// ReadLedger returns the ended groups of run, by index.
func ReadLedger(ctx context.Context, kv jetstream.KeyValue, run string) (map[int]*wire.GroupEnd, error) {
	ends := map[int]*wire.GroupEnd{}
	err := ReadKeys(ctx, kv, wire.LedgerKeys(run), func(key string, value []byte) error {
		g, end, err := wire.DecodeGroupEnd(key, value)
		if err != nil {
			return err
		}
		ends[g] = end
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger of run %s: %w", run, err)
	}
	return ends, nil
}

// ReadKeys calls fn with the current value of each key of kv that filter matches, and stops at
// fn's first error. A watch delivers each key's last value and then a nil marker, so a whole
// prefix costs one subscription, not a Get per key.
func ReadKeys(ctx context.Context, kv jetstream.KeyValue, filter string, fn func(key string, value []byte) error) error {
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return errors.New("watch closed")
			case e == nil: // caught up
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}

// PurgeLedger removes a run's ledger entries in one request, once the run has ended and nothing
// can resume it.
func PurgeLedger(ctx context.Context, js jetstream.JetStream, l wire.Layout, run string) error {
	return purgeKeys(ctx, js, l.CommitsBucket(), wire.LedgerKeys(run))
}

// PurgeSeats frees a run's seats at once when the run ends, instead of at their TTL.
func PurgeSeats(ctx context.Context, js jetstream.JetStream, l wire.Layout, run string) error {
	return purgeKeys(ctx, js, l.SeatsBucket(), run+".>")
}

// PurgeCells removes the kept cells of a group (of the whole run when group < 0), in one
// request, once its outcome is stored.
func PurgeCells(ctx context.Context, js jetstream.JetStream, l wire.Layout, run string, group int) error {
	return purgeKeys(ctx, js, l.CellsBucket(), wire.CellsOf(run, group))
}

// purgeKeys removes every key of bucket that filter matches, in one request to the bucket's
// stream, rather than a delete marker per key.
func purgeKeys(ctx context.Context, js jetstream.JetStream, bucket, filter string) error {
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return err
	}
	return stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucket+"."+filter))
}
