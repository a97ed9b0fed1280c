package lifecycle_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/local"
	"github.com/rowforge/rowforge/internal/sinkd"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// previewKeys lists the run's keys in the preview bucket.
func previewKeys(t *testing.T, kv jetstream.KeyValue, run string) []string {
	t.Helper()
	lister, err := kv.ListKeys(context.Background())
	require.NoError(t, err)
	var keys []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, run+".") {
			keys = append(keys, k)
		}
	}
	return keys
}

// eventually polls cond until it holds: for what the server does on its own clock (a TTL
// expiring, sinkd handling a message), not for the test's own goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(50 * time.Millisecond)
	}
}

// A preview lives in the preview bucket, through the KV sink: present after the preview, gone
// after its TTL, and gone at once when the preview is aborted.
func TestPreviewLifetime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	layout := wire.DefaultLayout()
	layout.Storage = jetstream.MemoryStorage
	layout.PreviewTTL = time.Second
	cl, err := local.Start(ctx, local.Options{Workers: 1, Out: t.TempDir(), Layout: layout, Logger: log})
	require.NoError(t, err)
	t.Cleanup(cl.Stop)
	nc, js, err := cl.Connect("test-controller")
	require.NoError(t, err)
	res, err := broker.Ensure(ctx, js, layout)
	require.NoError(t, err)
	ctrl := lifecycle.New(nc, js, layout, res, log)
	preview := func(run string, groups int) error {
		sink, err := sinkd.NewClient(ctx, nc, js, layout, res, run, log)
		require.NoError(t, err)
		defer sink.Close(ctx)
		_, err = ctrl.Run(ctx, parse(t, testConfig), lifecycle.Options{RunID: run, Mode: wire.ModePreview,
			NumRecords: 10 * groups, BufferSize: 10, Seed: 4, MaxConcurrentRowGroups: 1}, sink)
		return err
	}

	run := lifecycle.NewRunID()
	require.NoError(t, preview(run, 1))
	recs, meta, err := sinks.ReadPreview(ctx, res.Preview, run)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.EqualValues(t, 10, recs[0].NumRows())
	recs[0].Release()
	require.Equal(t, 10, meta.ActualNumRecords)
	eventually(t, "the preview's TTL", func() bool { return len(previewKeys(t, res.Preview, run)) == 0 })

	// Aborted after its first group was written: the preview is removed.
	aborted := lifecycle.NewRunID()
	once, written := false, 0
	ctrl.OnProgress(func(lifecycle.Progress) {
		if !once {
			once = true
			if lister, err := res.Preview.ListKeys(ctx); err == nil { // its first group is in the bucket
				for k := range lister.Keys() {
					if strings.HasPrefix(k, aborted+".") {
						written++
					}
				}
			}
			body, _ := json.Marshal(wire.Control{Op: wire.OpAbort, Reason: "enough"})
			require.NoError(t, nc.Publish(layout.ControlSubject(aborted), body))
		}
	})
	require.ErrorIs(t, preview(aborted, 50), lifecycle.ErrAborted)
	require.Positive(t, written, "the aborted preview had written a group")
	eventually(t, "the aborted preview's purge", func() bool { return len(previewKeys(t, res.Preview, aborted)) == 0 })
}
