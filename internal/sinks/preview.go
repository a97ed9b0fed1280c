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

	"github.com/rowforge/rowforge/internal/lifecycle"
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
// <run>.builder_config. A group's side datasets are stored before it: side n (its index in
// Group.Sides) as Arrow IPC under <run>.<group>.side.<n>, then their Dirs, in order, as a JSON
// array of strings under <run>.<group>.sides. A preview is small and short-lived, so it lives
// in a memory-storage bucket with a TTL (rf_preview) rather than on disk; anyone can read it
// back with ReadPreview, ReadPreviewSides or `nats kv get`. A KV put is atomic and a repeated
// put of a group replaces it, which makes every method idempotent.
//
// Values are bounded by the server's max payload (1 MiB by default), each side separately; a
// bigger group or side fails with an error that names its key. Methods are safe for concurrent
// use.
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

// PreviewSideKey returns the KV key of side n (its index in Group.Sides) of a group of a run.
func PreviewSideKey(runID string, group, n int) string {
	return PreviewKey(runID, group) + ".side." + strconv.Itoa(n)
}

// previewSidesKey is the KV key of the JSON array of a group's side Dirs.
func previewSidesKey(runID string, group int) string { return PreviewKey(runID, group) + ".sides" }

// WriteGroup stores g's sides under <run>.<group>.side.<n>, then the list of their Dirs under
// <run>.<group>.sides, then g.Main under <run>.<group>, and returns once the server has
// acknowledged every put. The main key goes last, so a group whose main key exists is whole.
// The Commit's Path is the main key and its Sides map each Side.Dir to the side's key.
func (p *Preview) WriteGroup(ctx context.Context, g lifecycle.Group) (wire.Commit, error) {
	if p.err != nil {
		return wire.Commit{}, p.err
	}
	if err := checkWrite(ctx, g); err != nil {
		return wire.Commit{}, err
	}
	var sides map[string]string
	if len(g.Sides) > 0 {
		sides = make(map[string]string, len(g.Sides))
		dirs := make([]string, len(g.Sides))
		for n, s := range g.Sides {
			key := PreviewSideKey(p.runID, g.Index, n)
			if err := p.put(ctx, key, s.Rec); err != nil {
				return wire.Commit{}, fmt.Errorf("sinks: write group %d: side %q: %w", g.Index, s.Dir, err)
			}
			dirs[n] = s.Dir
			sides[s.Dir] = key
		}
		index, err := json.Marshal(dirs)
		if err != nil {
			return wire.Commit{}, fmt.Errorf("sinks: write group %d: encode side list: %w", g.Index, err)
		}
		key := previewSidesKey(p.runID, g.Index)
		if _, err := p.kv.Put(ctx, key, index); err != nil {
			return wire.Commit{}, fmt.Errorf("sinks: write group %d: side list to key %s: %w", g.Index, key, err)
		}
	}
	key := PreviewKey(p.runID, g.Index)
	if err := p.put(ctx, key, g.Main); err != nil {
		return wire.Commit{}, fmt.Errorf("sinks: write group %d: %w", g.Index, err)
	}
	return wire.Commit{Group: g.Index, Rows: int(g.Main.NumRows()), Path: key, Sides: sides}, nil
}

// put stores rec as Arrow IPC under key.
func (p *Preview) put(ctx context.Context, key string, rec arrow.RecordBatch) error {
	b, err := EncodeIPC(rec)
	if err != nil {
		return err
	}
	if _, err := p.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("put key %s (%d bytes): %w", key, len(b), err)
	}
	return nil
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

// Purge removes every key of the run, committed groups, their sides and the manifest included:
// for a caller that has read the preview and wants the memory back before the bucket's TTL. Not
// part of Sink.
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

// runKeys lists the live keys of a run: <run>.<group>, <run>.manifest and <run>.builder_config,
// and the side keys <run>.<group>.side.<n> and <run>.<group>.sides.
func runKeys(ctx context.Context, kv jetstream.KeyValue, runID string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, runID+".>")
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

// ReadPreview reads a preview back: the main records of every group stored for runID, in group
// order (dropped groups leave gaps that are simply absent), and the metadata, which is nil when
// the run has not been finalized (still running, failed, or aborted). The caller releases the
// records. ReadPreviewSides reads a group's side datasets.
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

// ReadPreviewSides reads back the side datasets of one group of a preview, in the order they
// were written, or nil when the group has none. The sides are complete once the group's main key
// exists (ReadPreview lists the group); before that they may be missing or partial. The caller
// releases the records.
func ReadPreviewSides(ctx context.Context, kv jetstream.KeyValue, runID string, group int) (sides []lifecycle.Side, err error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	key := previewSidesKey(runID, group)
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: read preview side list of group %d (key %s): %w", group, key, err)
	}
	var dirs []string
	if err := json.Unmarshal(e.Value(), &dirs); err != nil {
		return nil, fmt.Errorf("sinks: read preview side list of group %d (key %s): %w", group, key, err)
	}
	defer func() {
		if err != nil {
			for _, s := range sides {
				s.Rec.Release()
			}
			sides = nil
		}
	}()
	for n, dir := range dirs {
		key := PreviewSideKey(runID, group, n)
		e, err := kv.Get(ctx, key)
		if err != nil {
			return sides, fmt.Errorf("sinks: read preview group %d side %q (key %s): %w", group, dir, key, err)
		}
		rec, err := DecodeIPC(e.Value())
		if err != nil {
			return sides, fmt.Errorf("sinks: read preview group %d side %q (key %s): %w", group, dir, key, err)
		}
		sides = append(sides, lifecycle.Side{Dir: dir, Rec: rec})
	}
	return sides, nil
}
