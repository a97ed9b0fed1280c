package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/sinks/sinktest"
	"github.com/rowforge/rowforge/pkg/wire"
)

// previewBucket starts an embedded JetStream server and returns a memory-storage KV bucket with
// a TTL, as rf_preview is declared. Both go away in t.Cleanup.
func previewBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), Port: -1, Host: "127.0.0.1"})
	require.NoError(t, err)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })

	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  "rf_preview_test",
		Storage: jetstream.MemoryStorage,
		TTL:     time.Hour,
	})
	require.NoError(t, err)
	return kv
}

func TestPreviewConformance(t *testing.T) {
	t.Parallel()
	kv := previewBucket(t)
	var runs atomic.Int64
	sinktest.Run(t,
		func(t *testing.T) lifecycle.Sink {
			// One bucket, a run per subtest: runs must not see each other's keys.
			return sinks.NewPreview(kv, fmt.Sprintf("run-%d", runs.Add(1)))
		},
		func(t *testing.T, s lifecycle.Sink) sinktest.Readback {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			groups, recs, meta, err := sinks.ReadPreviewGroups(ctx, kv, s.(*sinks.Preview).RunID())
			require.NoError(t, err)
			rb := sinktest.Readback{Groups: map[int]arrow.RecordBatch{}, Sides: map[int]map[string]arrow.RecordBatch{}, Meta: meta}
			for i, g := range groups {
				rb.Groups[g] = recs[i]
				sides, err := sinks.ReadPreviewSides(ctx, kv, s.(*sinks.Preview).RunID(), g)
				require.NoError(t, err)
				for _, side := range sides {
					if rb.Sides[g] == nil {
						rb.Sides[g] = map[string]arrow.RecordBatch{}
					}
					rb.Sides[g][side.Dir] = side.Rec
				}
			}
			return rb
		})
}

func TestReadPreview(t *testing.T) {
	t.Parallel()
	kv := previewBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	p := sinks.NewPreview(kv, "01J5-preview")
	other := sinks.NewPreview(kv, "01J5-preview-2") // shares a prefix, not the token
	var paths []string
	for _, g := range []int{10, 2, 1} {
		rec := sinktest.Record(g, g+1)
		c, err := p.WriteGroup(ctx, lifecycle.Group{Index: g, Main: rec})
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("01J5-preview.%d", g), c.Path)
		_, err = other.WriteGroup(ctx, lifecycle.Group{Index: g + 100, Main: rec})
		require.NoError(t, err)
		rec.Release()
		paths = append(paths, c.Path)
	}

	recs, meta, err := sinks.ReadPreview(ctx, kv, "01J5-preview")
	require.NoError(t, err)
	require.Nil(t, meta, "not finalized yet")
	require.Len(t, recs, 3)
	for i, g := range []int{1, 2, 10} { // numeric order, not key order
		want := sinktest.Record(g, g+1)
		sinktest.RequireRecordsEqual(t, want, recs[i])
		want.Release()
		recs[i].Release()
	}

	m := sinktest.Metadata(paths)
	require.NoError(t, p.Finalize(ctx, m))
	recs, meta, err = sinks.ReadPreview(ctx, kv, "01J5-preview")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for _, r := range recs {
		r.Release()
	}
	require.NotNil(t, meta)
	require.Equal(t, m.RunID, meta.RunID)
	require.Equal(t, string(m.BuilderConfig), string(meta.BuilderConfig))

	// Purge empties the run and only the run.
	require.NoError(t, p.Purge(ctx))
	recs, meta, err = sinks.ReadPreview(ctx, kv, "01J5-preview")
	require.NoError(t, err)
	require.Empty(t, recs)
	require.Nil(t, meta)
	recs, _, err = sinks.ReadPreview(ctx, kv, "01J5-preview-2")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for _, r := range recs {
		r.Release()
	}

	// An unknown run reads as empty.
	recs, meta, err = sinks.ReadPreview(ctx, kv, "nobody")
	require.NoError(t, err)
	require.Empty(t, recs)
	require.Nil(t, meta)
}

// Sides live under <run>.<group>.side.<n> with their Dirs under <run>.<group>.sides; ReadPreview
// still returns main records only, and Purge removes the side keys too.
func TestPreviewSides(t *testing.T) {
	t.Parallel()
	kv := previewBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := sinks.NewPreview(kv, "sides")

	g := sinktest.Group(2, 6, sinktest.ProcDir, sinktest.DroppedDir)
	defer sinktest.ReleaseGroup(g)
	c, err := p.WriteGroup(ctx, g)
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 2, Rows: 6, Path: "sides.2", Sides: map[string]string{
		sinktest.ProcDir: "sides.2.side.0", sinktest.DroppedDir: "sides.2.side.1",
	}}, c)
	require.Equal(t, "sides.2.side.1", sinks.PreviewSideKey("sides", 2, 1))
	index, err := kv.Get(ctx, "sides.2.sides")
	require.NoError(t, err)
	require.JSONEq(t, `["processors-files/summary", "dropped-columns-parquet-files"]`, string(index.Value()))
	plain := sinktest.Group(3, 1)
	defer sinktest.ReleaseGroup(plain)
	_, err = p.WriteGroup(ctx, plain)
	require.NoError(t, err)

	recs, _, err := sinks.ReadPreview(ctx, kv, "sides")
	require.NoError(t, err)
	require.Len(t, recs, 2, "main records only")
	sinktest.RequireRecordsEqual(t, g.Main, recs[0])
	for _, r := range recs {
		r.Release()
	}
	sides, err := sinks.ReadPreviewSides(ctx, kv, "sides", 2)
	require.NoError(t, err)
	require.Len(t, sides, 2)
	for i, side := range sides {
		require.Equal(t, g.Sides[i].Dir, side.Dir, "in the order written")
		sinktest.RequireRecordsEqual(t, g.Sides[i].Rec, side.Rec)
		side.Rec.Release()
	}
	sides, err = sinks.ReadPreviewSides(ctx, kv, "sides", 3)
	require.NoError(t, err)
	require.Nil(t, sides, "a group without sides")

	require.NoError(t, p.Purge(ctx))
	lister, err := kv.ListKeysFiltered(ctx, "sides.>")
	if !errors.Is(err, jetstream.ErrNoKeysFound) {
		require.NoError(t, err)
		var left []string
		for k := range lister.Keys() {
			left = append(left, k)
		}
		require.Empty(t, left, "Purge leaves no key of the run")
	}
}

func TestPreviewRejectsBadRunID(t *testing.T) {
	t.Parallel()
	kv := previewBucket(t)
	ctx := context.Background()
	for _, id := range []string{"", "a.b", "a b", "a*", "a>"} {
		p := sinks.NewPreview(kv, id)
		rec := sinktest.Record(0, 1)
		_, err := p.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: rec})
		rec.Release()
		require.Error(t, err, "%q", id)
		require.Error(t, p.Finalize(ctx, sinktest.Metadata(nil)), "%q", id)
		require.Error(t, p.Discard(ctx), "%q", id)
		_, _, err = sinks.ReadPreview(ctx, kv, id)
		require.Error(t, err, "%q", id)
	}
}

func TestPreviewTooLargeGroupNamesKey(t *testing.T) {
	t.Parallel()
	kv := previewBucket(t)
	rec := sinktest.Record(0, 30_000) // well over the 1 MiB default max payload as IPC
	defer rec.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sinks.NewPreview(kv, "big").WriteGroup(ctx, lifecycle.Group{Index: 0, Main: rec})
	require.Error(t, err)
	require.ErrorContains(t, err, "big.0")
}
