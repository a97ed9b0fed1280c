package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Key suffixes of a preview run in the KV bucket, beside the numeric <run>.<group> keys.
const (
	previewManifest      = "manifest"
	previewBuilderConfig = "builder_config"
)

// runIDRe is what a run ID may hold to be one token of a KV key: KV keys allow
// [-/_=.a-zA-Z0-9], and a dot would split the run into tokens and break the <run>.* filter.
var runIDRe = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+$`)

func checkRunID(runID string) error {
	if !runIDRe.MatchString(runID) {
		return fmt.Errorf("sinks: preview run id %q: must be non-empty and hold only [-/_=a-zA-Z0-9]", runID)
	}
	return nil
}

// Preview is the preview sink: each group is stored as Arrow IPC stream bytes under the KV key
// <run>.<group>, the metadata under <run>.manifest (last) and the builder config under
// <run>.builder_config. A preview is small and short-lived, so it lives in a memory-storage
// bucket with a TTL (rf_preview) rather than on disk; anyone can read it back with ReadPreview
// or `nats kv get`. A KV put is atomic and a repeated put of a group replaces it, which makes
// every method idempotent.
//
// Values are bounded by the server's max payload (1 MiB by default); a bigger group fails with
// an error that names it. Methods are safe for concurrent use.
type Preview struct {
	kv    jetstream.KeyValue
	runID string
	err   error // invalid run ID, reported by every method
}

var _ lifecycle.Sink = (*Preview)(nil)

// NewPreview returns a sink writing run runID into kv. The bucket is the caller's: the sink
// neither creates nor closes it. A run ID that cannot be a KV key token makes every method fail.
func NewPreview(kv jetstream.KeyValue, runID string) *Preview {
	return &Preview{kv: kv, runID: runID, err: checkRunID(runID)}
}

// RunID returns the run whose keys the sink writes.
func (p *Preview) RunID() string { return p.runID }

// PreviewKey returns the KV key of a group of a run.
func PreviewKey(runID string, group int) string { return runID + "." + strconv.Itoa(group) }

// WriteGroup stores rec under <run>.<group> and returns once the server has acknowledged the
// put. The Commit's Path is the key.
func (p *Preview) WriteGroup(ctx context.Context, group int, rec arrow.RecordBatch) (wire.Commit, error) {
	if p.err != nil {
		return wire.Commit{}, p.err
	}
	if err := checkWrite(ctx, group, rec); err != nil {
		return wire.Commit{}, err
	}
	key := PreviewKey(p.runID, group)
	b, err := EncodeIPC(rec)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("sinks: write group %d: %w", group, err)
	}
	if _, err := p.kv.Put(ctx, key, b); err != nil {
		return wire.Commit{}, fmt.Errorf("sinks: write group %d to key %s (%d bytes): %w", group, key, len(b), err)
	}
	return wire.Commit{Group: group, Rows: int(rec.NumRows()), Path: key}, nil
}

// Finalize stores meta.BuilderConfig under <run>.builder_config and then meta as JSON under
// <run>.manifest. The manifest goes last: its presence marks a completed preview.
func (p *Preview) Finalize(ctx context.Context, meta wire.Metadata) error {
	if p.err != nil {
		return p.err
	}
	if err := checkFinalize(ctx, &meta); err != nil {
		return err
	}
	body, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("sinks: finalize run %q: encode metadata: %w", p.runID, err)
	}
	for _, kv := range []struct {
		key  string
		data []byte
	}{
		{p.runID + "." + previewBuilderConfig, meta.BuilderConfig},
		{p.runID + "." + previewManifest, body},
	} {
		if _, err := p.kv.Put(ctx, kv.key, kv.data); err != nil {
			return fmt.Errorf("sinks: finalize run %q: put %s: %w", p.runID, kv.key, err)
		}
	}
	return nil
}

// Discard does nothing but report an invalid run ID: a KV put is atomic, so a preview never
// holds a half-written group, and committed groups stay (the lifecycle.Sink contract). The
// bucket's TTL reclaims an abandoned preview; Purge removes one at once.
func (p *Preview) Discard(context.Context) error { return p.err }

// Purge removes every key of the run, committed groups and manifest included: for a caller that
// has read the preview and wants the memory back before the bucket's TTL. Not part of Sink.
func (p *Preview) Purge(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	keys, err := runKeys(ctx, p.kv, p.runID)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := p.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, fmt.Errorf("sinks: purge key %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// runKeys lists the live keys of a run.
func runKeys(ctx context.Context, kv jetstream.KeyValue, runID string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, runID+".*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("sinks: list keys of run %q: %w", runID, err)
	}
	var keys []string
	for k := range lister.Keys() { // drain fully: the lister's goroutine blocks on a full channel
		keys = append(keys, k)
	}
	// The lister closes its channel on cancellation too, without saying so: a cut listing must
	// not pass for a complete one.
	if err := ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("sinks: list keys of run %q: %w", runID, err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil // the lister may repeat keys under concurrent writes
}

// ReadPreview reads a preview back: the records of every group stored for runID, in group order
// (dropped groups leave gaps that are simply absent), and the metadata, which is nil when the
// run has not been finalized (still running, failed, or aborted). The caller releases the
// records.
func ReadPreview(ctx context.Context, kv jetstream.KeyValue, runID string) ([]arrow.RecordBatch, *wire.Metadata, error) {
	_, recs, meta, err := readPreview(ctx, kv, runID)
	return recs, meta, err
}

// readPreview is ReadPreview that also returns the group index of each record.
func readPreview(ctx context.Context, kv jetstream.KeyValue, runID string) (groups []int, recs []arrow.RecordBatch, meta *wire.Metadata, err error) {
	if err := checkRunID(runID); err != nil {
		return nil, nil, nil, err
	}
	keys, err := runKeys(ctx, kv, runID)
	if err != nil {
		return nil, nil, nil, err
	}
	hasManifest := false
	for _, k := range keys {
		suffix := strings.TrimPrefix(k, runID+".")
		if suffix == previewManifest {
			hasManifest = true
			continue
		}
		if g, err := strconv.Atoi(suffix); err == nil && g >= 0 && strconv.Itoa(g) == suffix {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)

	defer func() {
		if err != nil {
			for _, r := range recs {
				r.Release()
			}
			groups, recs, meta = nil, nil, nil
		}
	}()
	for _, g := range groups {
		key := PreviewKey(runID, g)
		e, err := kv.Get(ctx, key)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sinks: read preview group %d (key %s): %w", g, key, err)
		}
		rec, err := DecodeIPC(e.Value())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sinks: read preview group %d (key %s): %w", g, key, err)
		}
		recs = append(recs, rec)
	}
	if hasManifest {
		if meta, err = readManifest(ctx, kv, runID); err != nil {
			return nil, nil, nil, err
		}
	}
	return groups, recs, meta, nil
}

func readManifest(ctx context.Context, kv jetstream.KeyValue, runID string) (*wire.Metadata, error) {
	key := runID + "." + previewManifest
	e, err := kv.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sinks: read preview manifest (key %s): %w", key, err)
	}
	var meta wire.Metadata
	if err := json.Unmarshal(e.Value(), &meta); err != nil {
		return nil, fmt.Errorf("sinks: read preview manifest (key %s): %w", key, err)
	}
	key = runID + "." + previewBuilderConfig
	e, err = kv.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sinks: read preview builder config (key %s): %w", key, err)
	}
	meta.BuilderConfig = json.RawMessage(e.Value())
	return &meta, nil
}
