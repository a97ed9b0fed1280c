package sinkd_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/sinkd"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// waitFor bounds every wait of these tests, so that a lost message fails the test instead of
// hanging it. It is a safety net, not a timing assertion.
const waitFor = 30 * time.Second

var quiet = slog.New(slog.DiscardHandler)

type bundle struct {
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	layout wire.Layout
	res    *broker.Resources
}

// setup starts an embedded server and prepares the default layout on it.
func setup(t *testing.T) *bundle {
	t.Helper()
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	layout := wire.DefaultLayout()
	res, err := broker.Ensure(t.Context(), js, layout)
	require.NoError(t, err)
	return &bundle{srv: srv, nc: nc, js: js, layout: layout, res: res}
}

// waitCtx is the context of the test's waits (WriteGroup, Finalize).
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// startService runs a sink daemon writing under out, on its own connection, until stop is
// called or the test ends; stop waits for Run to return.
func (b *bundle) startService(t *testing.T, out string) (svc *sinkd.Service, stop func()) {
	t.Helper()
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	svc = sinkd.NewService(nc, js, b.layout, b.res, sinkd.Options{Out: out, Logger: quiet})
	return svc, servicetest.Start(t, svc.Run)
}

// putRun records a run in rf_runs.
func (b *bundle) putRun(t *testing.T, id, mode string, state wire.RunState, dataset string) {
	t.Helper()
	rec := wire.RunRecord{ID: id, State: state, Mode: mode, Config: json.RawMessage(`{"columns":[]}`),
		NumRecords: 30, BufferSize: 10, DatasetName: dataset, CreatedAt: time.Now().UTC()}
	body, err := json.Marshal(rec)
	require.NoError(t, err)
	_, err = b.res.Runs.Put(t.Context(), id, body)
	require.NoError(t, err)
}

// newClient opens the controller's end for run, on its own connection.
func (b *bundle) newClient(t *testing.T, run string) *sinkd.Client {
	t.Helper()
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	c, err := sinkd.NewClient(t.Context(), nc, js, b.layout, b.res, run, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// sinkStreamDrained waits until every message on the sink stream has been settled (acked or
// terminated: the stream is a work queue, so a settled message leaves it).
func (b *bundle) sinkStreamDrained(t *testing.T) {
	t.Helper()
	st, err := b.js.Stream(t.Context(), b.layout.SinkStream())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	}, waitFor, 5*time.Millisecond, "the sink stream still holds messages")
}

// groupFrame is the finalized group g: n rows with an int and a string column.
func groupFrame(g, n int) *frame.Frame {
	f := frame.New(n)
	id := frame.NewColumn("id", frame.Int, n)
	name := frame.NewColumn("name", frame.String, n)
	for i := range n {
		id.Ints[i] = int64(g*1000 + i)
		name.Strings[i] = "row-" + string(rune('a'+i%26))
	}
	_ = f.Put(id)
	_ = f.Put(name)
	return f
}

func record(t *testing.T, f *frame.Frame) arrow.RecordBatch {
	t.Helper()
	rec := f.ToRecord(nil)
	t.Cleanup(rec.Release)
	return rec
}

func encoded(t *testing.T, f *frame.Frame) []byte {
	t.Helper()
	body, err := wire.EncodeRecord(record(t, f))
	require.NoError(t, err)
	return body
}

// readParquet reads a group's file back into a frame.
func readParquet(t *testing.T, path string) *frame.Frame {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err, path)
	defer tbl.Release()
	tr := array.NewTableReader(tbl, tbl.NumRows())
	defer tr.Release()
	require.True(t, tr.Next(), "%s holds no rows", path)
	out, err := frame.FromRecord(tr.RecordBatch())
	require.NoError(t, err)
	return out
}

// parquetFiles lists the entries of the dataset's parquet-files folder.
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, sinks.ParquetFilesDir))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func metadata(run, dataset string, commits []wire.Commit) wire.Metadata {
	var paths []string
	rows := 0
	for _, c := range commits {
		paths = append(paths, c.Path)
		rows += c.Rows
	}
	return wire.Metadata{
		TargetNumRecords: rows, ActualNumRecords: rows, TotalNumBatches: len(commits), BufferSize: 10,
		DatasetName: dataset, FilePaths: map[string][]string{"parquet-files": paths},
		ConfigHash: "sha256:test", RunID: run, Seed: 7, Outcome: wire.RunCompleted,
		BuilderConfig: json.RawMessage(`{"data_designer":{"columns":[]}}`),
	}
}

func TestBuildRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "run1"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	var commits []wire.Commit
	for g := range 3 {
		commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: g, Main: record(t, groupFrame(g, 10+g))})
		require.NoError(t, err)
		require.Equal(t, wire.Commit{Group: g, Rows: 10 + g, Path: sinks.BatchFile(g)}, commit)
		commits = append(commits, commit)
	}
	dir := filepath.Join(out, "ds")
	require.Equal(t, dir, c.Dir())

	meta := metadata(run, "ds", commits)
	require.NoError(t, c.Finalize(ctx, meta))

	require.Equal(t, []string{"batch_00000.parquet", "batch_00001.parquet", "batch_00002.parquet"},
		parquetFiles(t, dir))
	for g, commit := range commits {
		got := readParquet(t, filepath.Join(dir, filepath.FromSlash(commit.Path)))
		want := groupFrame(g, 10+g)
		require.Equal(t, want.Len(), got.Len(), "group %d", g)
		for _, col := range want.Columns() {
			require.Equal(t, col.Ints, got.Column(col.Name).Ints, "group %d column %s", g, col.Name)
			require.Equal(t, col.Strings, got.Column(col.Name).Strings, "group %d column %s", g, col.Name)
		}
	}

	raw, err := os.ReadFile(filepath.Join(dir, sinks.MetadataFile))
	require.NoError(t, err)
	var written wire.Metadata
	require.NoError(t, json.Unmarshal(raw, &written))
	meta.BuilderConfig = nil // not part of metadata.json
	require.Equal(t, meta, written)
	bc, err := os.ReadFile(filepath.Join(dir, sinks.BuilderConfigFile))
	require.NoError(t, err)
	require.JSONEq(t, `{"data_designer":{"columns":[]}}`, string(bc))
}

// sideFrame is a side dataset of group g: n rows of a dropped column.
func sideFrame(g, n int, dir string) *frame.Frame {
	f := frame.New(n)
	dropped := frame.NewColumn("dropped", frame.String, n)
	for i := range n {
		dropped.Strings[i] = fmt.Sprintf("%s %d/%d", dir, g, i)
	}
	_ = f.Put(dropped)
	return f
}

// withSides is group g of n rows with a side per dir.
func withSides(t *testing.T, g, n int, dirs ...string) lifecycle.Group {
	t.Helper()
	grp := lifecycle.Group{Index: g, Main: record(t, groupFrame(g, n))}
	for _, dir := range dirs {
		grp.Sides = append(grp.Sides, lifecycle.Side{Dir: dir, Rec: record(t, sideFrame(g, n, dir))})
	}
	return grp
}

const (
	droppedDir = "dropped-columns-parquet-files"
	procDir    = "processors-files/summary"
)

// A group's sides travel with it in one message and land as files beside the main file.
func TestBuildGroupWithSides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "sides"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	dir := filepath.Join(out, "ds")

	commit, err := c.WriteGroup(ctx, withSides(t, 0, 6, droppedDir, procDir))
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 0, Rows: 6, Path: sinks.BatchFile(0), Sides: map[string]string{
		droppedDir: sinks.SideFile(droppedDir, 0),
		procDir:    sinks.SideFile(procDir, 0),
	}}, commit)
	for _, d := range []string{droppedDir, procDir} {
		got := readParquet(t, filepath.Join(dir, filepath.FromSlash(commit.Sides[d])))
		require.Equal(t, sideFrame(0, 6, d).Column("dropped").Strings, got.Column("dropped").Strings, d)
	}
	got := readParquet(t, filepath.Join(dir, filepath.FromSlash(commit.Path)))
	require.Equal(t, groupFrame(0, 6).Column("id").Ints, got.Column("id").Ints)

	plain, err := c.WriteGroup(ctx, withSides(t, 1, 2))
	require.NoError(t, err)
	require.Nil(t, plain.Sides, "a group without sides commits none")
	again, err := c.WriteGroup(ctx, withSides(t, 0, 6, droppedDir, procDir))
	require.NoError(t, err)
	require.Equal(t, commit, again)
	require.Equal(t, []string{"batch_00000.parquet", "batch_00001.parquet"}, parquetFiles(t, dir))
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(procDir)))
	require.NoError(t, err)
	require.Len(t, entries, 1, "group 1 has no side; group 0's side is one file")
}

// A side folder the sink refuses comes back as WriteGroup's error, and nothing is written; a
// side name the container cannot carry fails before anything is published.
func TestInvalidSideIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "badside"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	_, err := c.WriteGroup(ctx, withSides(t, 0, 3, droppedDir, "parquet-files/x"))
	require.ErrorContains(t, err, "invalid side dataset")
	require.ErrorContains(t, err, `"parquet-files/x"`)
	require.Empty(t, parquetFiles(t, filepath.Join(out, "ds")))
	require.NoDirExists(t, filepath.Join(out, "ds", droppedDir))

	_, err = c.WriteGroup(ctx, withSides(t, 1, 3, "../escape"))
	require.ErrorContains(t, err, "encode group")
	st, err := b.js.Stream(ctx, b.layout.SinkStream())
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.LastSeq, "only the first group was published")
}

func TestPreviewGroupWithSides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startService(t, t.TempDir())
	const run = "prevsides"
	b.putRun(t, run, wire.ModePreview, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	commit, err := c.WriteGroup(ctx, withSides(t, 2, 4, procDir))
	require.NoError(t, err)
	require.Equal(t, map[string]string{procDir: sinks.PreviewSideKey(run, 2, 0)}, commit.Sides)
	sides, err := sinks.ReadPreviewSides(ctx, b.res.Preview, run, 2)
	require.NoError(t, err)
	require.Len(t, sides, 1)
	defer sides[0].Rec.Release()
	require.Equal(t, procDir, sides[0].Dir)
	got, err := frame.FromRecord(sides[0].Rec)
	require.NoError(t, err)
	require.Equal(t, sideFrame(2, 4, procDir).Column("dropped").Strings, got.Column("dropped").Strings)
}

func TestWriteGroupTwiceLeavesOneFile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "twice"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	dir := filepath.Join(out, "ds")

	rec := record(t, groupFrame(4, 20))
	first, err := c.WriteGroup(ctx, lifecycle.Group{Index: 4, Main: rec})
	require.NoError(t, err)
	before, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(first.Path)))
	require.NoError(t, err)

	second, err := c.WriteGroup(ctx, lifecycle.Group{Index: 4, Main: rec})
	require.NoError(t, err, "a second write of a group must commit, not hang")
	require.Equal(t, first, second)
	after, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(second.Path)))
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.Equal(t, []string{"batch_00004.parquet"}, parquetFiles(t, dir))

	// The client still waits for real commits of other groups.
	third, err := c.WriteGroup(ctx, lifecycle.Group{Index: 5, Main: record(t, groupFrame(5, 3))})
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 5, Rows: 3, Path: sinks.BatchFile(5)}, third)
}

// A dataset folder that holds another run's dataset is never written into: the run goes to
// <dataset>_<run>, and keeps that folder when sinkd restarts.
func TestDatasetFolderOfAnotherRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	taken := filepath.Join(out, "ds")
	require.NoError(t, os.MkdirAll(taken, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(taken, ".rowforge-run"), []byte("older"), 0o644))

	_, stop := b.startService(t, out)
	const run = "newer"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	own := filepath.Join(out, "ds_"+run)

	_, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 5))})
	require.NoError(t, err)
	require.Equal(t, own, c.Dir())
	require.Equal(t, []string{"batch_00000.parquet"}, parquetFiles(t, own))
	require.Empty(t, parquetFiles(t, taken), "the other run's folder is untouched")
	marker, err := os.ReadFile(filepath.Join(taken, ".rowforge-run"))
	require.NoError(t, err)
	require.Equal(t, "older", string(marker))

	stop()
	b.startService(t, out) // a restarted sinkd, same out

	_, err = c.WriteGroup(ctx, lifecycle.Group{Index: 1, Main: record(t, groupFrame(1, 5))})
	require.NoError(t, err)
	require.Equal(t, own, c.Dir())
	require.Equal(t, []string{"batch_00000.parquet", "batch_00001.parquet"}, parquetFiles(t, own))
	require.NoError(t, c.Finalize(ctx, metadata(run, "ds", nil)))
	require.FileExists(t, filepath.Join(own, sinks.MetadataFile))
	require.NoFileExists(t, filepath.Join(taken, sinks.MetadataFile))
}

// A folder with something else in it (no marker) is not claimed either.
func TestDatasetFolderNotEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(out, "ds"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "ds", "notes.txt"), []byte("mine"), 0o644))
	b.startService(t, out)
	const run = "r"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)

	_, err := c.WriteGroup(waitCtx(t), lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 2))})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(out, "ds_"+run), c.Dir())
	require.Empty(t, parquetFiles(t, filepath.Join(out, "ds")))
}

// After a discard, a late group message of the run is refused, and committed groups stay.
func TestDiscardRefusesLaterGroups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "discarded"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	dir := filepath.Join(out, "ds")

	_, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 4))})
	require.NoError(t, err)
	require.NoError(t, c.Discard(ctx))
	b.sinkStreamDrained(t) // the abort is handled

	_, err = b.js.Publish(ctx, b.layout.SinkSubject(run, wire.SinkGroup, 1), encoded(t, groupFrame(1, 4)))
	require.NoError(t, err)
	b.sinkStreamDrained(t)
	require.Equal(t, []string{"batch_00000.parquet"}, parquetFiles(t, dir))
}

// A group of a run whose record says aborted is terminated without a write.
func TestGroupOfAbortedRunIsTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "gone"
	b.putRun(t, run, wire.ModeBuild, wire.RunAborted, "ds")

	_, err := b.js.Publish(waitCtx(t), b.layout.SinkSubject(run, wire.SinkGroup, 0), encoded(t, groupFrame(0, 4)))
	require.NoError(t, err)
	b.sinkStreamDrained(t)
	require.Empty(t, parquetFiles(t, filepath.Join(out, "ds")))
	outcomes, err := b.js.Stream(t.Context(), b.layout.OutcomesStream())
	require.NoError(t, err)
	info, err := outcomes.Info(t.Context())
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "no commit for a refused group")
}

// blockingSink holds WriteGroup until release is closed, and records whether a Discard came
// while a write was in progress.
type blockingSink struct {
	entered, release, discarded chan struct{}
	releaseOnce                 sync.Once

	mu              sync.Mutex
	writing         int
	discardInWrite  bool
	discardsStarted int
}

func (s *blockingSink) WriteGroup(_ context.Context, g lifecycle.Group) (wire.Commit, error) {
	s.mu.Lock()
	s.writing++
	s.mu.Unlock()
	select {
	case s.entered <- struct{}{}:
	default: // only the first write is watched
	}
	<-s.release
	s.mu.Lock()
	s.writing--
	s.mu.Unlock()
	return wire.Commit{Group: g.Index, Rows: int(g.Main.NumRows()), Path: "blocked"}, nil
}

func (s *blockingSink) Finalize(context.Context, wire.Metadata) error { return nil }

func (s *blockingSink) unblock() { s.releaseOnce.Do(func() { close(s.release) }) }

// newBlockingSink returns a blocking sink that lets its writes go when the test ends, before
// sinkd is stopped, should the test fail while one is held.
func newBlockingSink(t *testing.T) *blockingSink {
	t.Helper()
	s := &blockingSink{entered: make(chan struct{}, 1), release: make(chan struct{}), discarded: make(chan struct{})}
	t.Cleanup(s.unblock)
	return s
}

func (s *blockingSink) Discard(context.Context) error {
	s.mu.Lock()
	s.discardsStarted++
	s.discardInWrite = s.writing > 0
	first := s.discardsStarted == 1
	s.mu.Unlock()
	if first {
		close(s.discarded)
	}
	return nil
}

func (s *blockingSink) discards() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discardsStarted
}

// A discard that arrives while a group is being written waits for that write, so it cannot
// remove the temp file of a write in progress.
func TestDiscardWaitsForWriteInProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc, _ := b.startService(t, t.TempDir())
	const run = "held"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	sink := newBlockingSink(t)
	svc.UseSink(run, sink, "held-dir")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	rec := record(t, groupFrame(0, 3))

	type result struct {
		commit wire.Commit
		err    error
	}
	written := make(chan result, 1)
	go func() {
		commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: rec})
		written <- result{commit, err}
	}()
	select {
	case <-sink.entered:
	case <-ctx.Done():
		t.Fatal("the write never started")
	}

	require.NoError(t, c.Discard(ctx))
	// The discard reaches the run's lock and waits there while the write holds it.
	require.Eventually(t, func() bool { return svc.DiscardWaiting(run) }, waitFor, time.Millisecond)
	require.Zero(t, sink.discards(), "the discard ran during a write")

	sink.unblock()
	select {
	case <-sink.discarded:
	case <-ctx.Done():
		t.Fatal("the discard never ran")
	}
	require.False(t, sink.discardInWrite)
	r := <-written
	require.NoError(t, r.err)
	require.Equal(t, wire.Commit{Group: 0, Rows: 3, Path: "blocked"}, r.commit)
	require.Equal(t, "held-dir", c.Dir())
}

func TestPreviewRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "prev"
	b.putRun(t, run, wire.ModePreview, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	var commits []wire.Commit
	for g := range 2 {
		commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: g, Main: record(t, groupFrame(g, 5+g))})
		require.NoError(t, err)
		require.Equal(t, wire.Commit{Group: g, Rows: 5 + g, Path: sinks.PreviewKey(run, g)}, commit)
		commits = append(commits, commit)
	}
	require.Equal(t, b.layout.PreviewBucket(), c.Dir())

	recs, meta, err := sinks.ReadPreview(ctx, b.res.Preview, run)
	require.NoError(t, err)
	require.Nil(t, meta, "no manifest before Finalize")
	for _, r := range recs {
		r.Release()
	}

	require.NoError(t, c.Finalize(ctx, metadata(run, "ds", commits)))
	recs, meta, err = sinks.ReadPreview(ctx, b.res.Preview, run)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	require.Len(t, recs, 2)
	for g, r := range recs {
		got, err := frame.FromRecord(r)
		require.NoError(t, err)
		require.Equal(t, groupFrame(g, 5+g).Column("id").Ints, got.Column("id").Ints)
	}
	require.NotNil(t, meta)
	require.Equal(t, run, meta.RunID)
	require.Equal(t, 11, meta.ActualNumRecords)
	require.JSONEq(t, `{"data_designer":{"columns":[]}}`, string(meta.BuilderConfig))

	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "a preview writes nothing to disk")
}

// Discarding a preview removes what it had committed: an incomplete preview is of no use.
func TestPreviewDiscardPurges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startService(t, t.TempDir())
	const run = "prevgone"
	b.putRun(t, run, wire.ModePreview, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	_, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 2))})
	require.NoError(t, err)
	require.NoError(t, c.Discard(ctx))
	b.sinkStreamDrained(t)
	recs, meta, err := sinks.ReadPreview(ctx, b.res.Preview, run)
	require.NoError(t, err)
	require.Empty(t, recs)
	require.Nil(t, meta)
}

// A sink that cannot write answers with an error commit, which WriteGroup returns.
func TestSinkErrorReturnsToWriteGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.WriteFile(out, []byte("a file, not a folder"), 0o644))
	b.startService(t, out)
	const run = "fails"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	_, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 3))})
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, out)

	err = c.Finalize(ctx, metadata(run, "ds", nil))
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

// A group, and a finalize, that sinkd's consumer gives up on — every delivery handed back, as
// by a sinkd that cannot read the run's record — fail their wait with an error naming them,
// instead of leaving the controller waiting for a commit that will never come.
func TestWriteGroupFailsWhenSinkdGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const run = "given-up"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)

	cons, err := b.js.Consumer(ctx, b.layout.SinkStream(), wire.SinkdConsumer)
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) { _ = m.Nak() })
	require.NoError(t, err)
	t.Cleanup(func() { cc.Stop(); <-cc.Closed() })

	_, err = c.WriteGroup(ctx, lifecycle.Group{Index: 4, Main: record(t, groupFrame(4, 3))})
	exhausted, ok := errors.AsType[*sinkd.DeliveriesExhaustedError](err)
	require.Truef(t, ok, "%v", err)
	require.Equal(t, 4, exhausted.Group)
	require.Positive(t, exhausted.Deliveries)
	require.ErrorContains(t, err, "group 4")

	err = c.Finalize(ctx, metadata(run, "ds", nil))
	exhausted, ok = errors.AsType[*sinkd.DeliveriesExhaustedError](err)
	require.Truef(t, ok, "%v", err)
	require.ErrorContains(t, err, "finalize")
}

// Messages on the sink subjects that cannot be handled are terminated, and sinkd goes on.
func TestMalformedSinkMessagesAreTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out := t.TempDir()
	b.startService(t, out)
	const run = "bad"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	ctx := waitCtx(t)
	p := "rf.sink." + run
	// A container with a side named "../x", which EncodeGroup refuses to write.
	main := encoded(t, groupFrame(3, 2))
	bad := []byte(wire.GroupMagic)
	bad = binary.LittleEndian.AppendUint32(bad, 2)
	for _, part := range []struct {
		name string
		body []byte
	}{{"", main}, {"../x", encoded(t, sideFrame(3, 2, "x"))}} {
		bad = binary.LittleEndian.AppendUint32(bad, uint32(len(part.name)))
		bad = append(bad, part.name...)
		bad = binary.LittleEndian.AppendUint64(bad, uint64(len(part.body)))
		bad = append(bad, part.body...)
	}
	badContainer := string(bad)

	for _, m := range []struct{ subject, body string }{
		{b.layout.SinkSubject(run, wire.SinkGroup, 0), "garbage"},     // not Arrow IPC
		{b.layout.SinkSubject(run, wire.SinkGroup, 1), ""},            // empty body
		{b.layout.SinkSubject(run, wire.SinkGroup, 2), "RFG1garbage"}, // not a group container
		{b.layout.SinkSubject(run, wire.SinkGroup, 3), badContainer},  // a side outside the dataset
		{p + ".unknownkind", "{}"},                                    // unknown kind
		{p + ".group.abc", "garbage"},                                 // not a group index
		{p + ".group.007", "garbage"},                                 // not the canonical index
		{b.layout.SinkSubject(run, wire.SinkFinalize, 0), "garbage"},  // undecodable finalize
		{b.layout.SinkSubject("nosuchrun", wire.SinkGroup, 0), "x"},   // unknown run
		{"rf.sink." + run, "x"},                                       // no kind
		{b.layout.SinkSubject(run, wire.SinkFinalize, 0) + ".x", "x"}, // unexpected shape
	} {
		_, err := b.js.Publish(ctx, m.subject, []byte(m.body))
		require.NoError(t, err, m.subject)
	}
	b.sinkStreamDrained(t)
	require.Empty(t, parquetFiles(t, filepath.Join(out, "ds")))
	require.NoFileExists(t, filepath.Join(out, "ds", sinks.MetadataFile))
	cons, err := b.js.Consumer(ctx, b.layout.SinkStream(), wire.SinkdConsumer)
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "terminated, not redelivered")

	c := b.newClient(t, run)
	commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 2))})
	require.NoError(t, err)
	require.Equal(t, 2, commit.Rows)
	require.Equal(t, []string{"batch_00000.parquet"}, parquetFiles(t, filepath.Join(out, "ds")))
}

// A WriteGroup that gave up before its commit arrived can be retried: the retry's message is a
// duplicate the stream drops, and the retry returns the first message's commit.
func TestWriteGroupRetriedAfterItsContextEnded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc, _ := b.startService(t, t.TempDir())
	const run = "retried"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	sink := newBlockingSink(t)
	svc.UseSink(run, sink, "held-dir")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	rec := record(t, groupFrame(0, 3))

	first, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.WriteGroup(first, lifecycle.Group{Index: 0, Main: rec})
		gaveUp <- err
	}()
	select {
	case <-sink.entered: // sinkd holds the group
	case <-ctx.Done():
		t.Fatal("the write never started")
	}
	cancel()
	require.ErrorIs(t, <-gaveUp, context.Canceled)
	sink.unblock() // now sinkd commits the group, with nobody waiting for it
	// The client takes that commit (and acks it) before the retry.
	cons, err := b.js.Consumer(ctx, b.layout.OutcomesStream(), wire.CommitConsumer(run))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Consumer == 1 && info.NumAckPending == 0
	}, waitFor, 5*time.Millisecond)

	commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: rec})
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 0, Rows: 3, Path: "blocked"}, commit)
}
