// Package runstore reads and writes run records in the rf_runs bucket. Every writer — the
// controller, a resume, an operator's abort — changes a record with compare-and-swap through
// Update, so that no write ever undoes another's (an abort recorded while the controller writes
// its progress survives).
package runstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/wire"
)

// ErrNotFound is returned for a run the bucket does not hold.
var ErrNotFound = errors.New("no such run")

// ErrUnchanged, returned by an Update's change, writes nothing; Update then returns the record
// as change left it, and no error.
var ErrUnchanged = errors.New("record unchanged")

// Store is the rf_runs bucket.
type Store struct{ kv jetstream.KeyValue }

// New wraps the bucket.
func New(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Open looks the bucket up without creating it; ok is false when the server holds none.
func Open(ctx context.Context, js jetstream.JetStream, l wire.Layout) (s *Store, ok bool, err error) {
	kv, err := js.KeyValue(ctx, l.RunsBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("bucket %s: %w", l.RunsBucket(), err)
	}
	return New(kv), true, nil
}

// Create records a new run; its id must be new.
func (s *Store) Create(ctx context.Context, rec *wire.RunRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, rec.ID, b); err != nil {
		return fmt.Errorf("record run %s: %w", rec.ID, err)
	}
	return nil
}

// Get reads a run's record.
func (s *Store) Get(ctx context.Context, id string) (*wire.RunRecord, error) {
	rec, _, err := s.get(ctx, id)
	return rec, err
}

func (s *Store) get(ctx context.Context, id string) (*wire.RunRecord, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read run %s: %w", id, err)
	}
	rec, err := wire.DecodeRunRecord(e.Value())
	if err != nil {
		return nil, 0, err
	}
	return rec, e.Revision(), nil
}

// Update applies change to the run's record and writes it back if nobody wrote in between;
// otherwise it reads the record again and reapplies change, so change must depend only on the
// record it is given. An error from change stops the update and is returned as it is (see
// ErrUnchanged). Update returns the record as written.
func (s *Store) Update(ctx context.Context, id string, change func(*wire.RunRecord) error) (*wire.RunRecord, error) {
	for {
		rec, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(rec); errors.Is(err, ErrUnchanged) {
			return rec, nil
		} else if err != nil {
			return nil, err
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		_, err = s.kv.Update(ctx, id, b, rev)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) { // ErrKeyExists: someone wrote first; again
			return nil, fmt.Errorf("write run %s: %w", id, err)
		}
	}
}

// Await returns the run's record once done(record) is true, from a watch of its key: the
// current record first, then each write. When ctx ends first it returns the last record seen
// with ctx's error (nil and the error if none was seen).
func (s *Store) Await(ctx context.Context, id string, done func(*wire.RunRecord) bool) (*wire.RunRecord, error) {
	w, err := s.kv.Watch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("watch run %s: %w", id, err)
	}
	defer func() { _ = w.Stop() }()
	var last *wire.RunRecord
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return last, fmt.Errorf("watch run %s: stopped", id)
			case e == nil: // the key's history is replayed: nothing to replay is ErrNotFound
				if last == nil {
					return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
				}
			case e.Operation() == jetstream.KeyValuePut:
				rec, err := wire.DecodeRunRecord(e.Value())
				if err != nil {
					return last, err
				}
				if last = rec; done(rec) {
					return rec, nil
				}
			}
		}
	}
}

// List reads every run's record. A record that cannot be read or decoded is skipped: a reader
// of the bucket can do nothing about it, and the other runs are still worth listing.
func (s *Store) List(ctx context.Context) ([]*wire.RunRecord, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var recs []*wire.RunRecord
	for k := range lister.Keys() {
		rec, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			continue
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
