// Package sinktest is the conformance suite for lifecycle.Sink. Every sink runs it, the real
// ones and the in-memory test double alike, so that code tested against one can rely on the
// contract of all: writes read back equal, side datasets included, a redelivered group leaves
// one copy under the same names, groups may come in any order and concurrently, metadata appears
// only after Finalize, Discard keeps committed groups, invalid groups and sides are refused
// before anything is written, and a cancelled context is honoured at entry.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Readback is what a sink holds, read back through the sink's own storage (files, KV keys),
// not through the Sink interface.
type Readback struct {
	// Groups maps group index to its main record. The suite releases each record once.
	Groups map[int]arrow.RecordBatch
	// Sides maps group index to the group's side records by Side.Dir; a group without sides
	// may be absent or map to an empty map. The suite releases each record once.
	Sides map[int]map[string]arrow.RecordBatch
	// Meta is the finalized metadata with BuilderConfig filled in, or nil before Finalize.
	Meta *wire.Metadata
}

// Release releases every record of r.
func (r Readback) Release() {
	for _, rec := range r.Groups {
		rec.Release()
	}
	for _, sides := range r.Sides {
		for _, rec := range sides {
			rec.Release()
		}
	}
}

// Side folders the suite writes: two of the shapes processors use.
const (
	DroppedDir = "dropped-columns-parquet-files"
	ProcDir    = "processors-files/summary"
)

// InvalidSideDirs are Side.Dir values every sink refuses with sinks.ErrInvalidSide.
var InvalidSideDirs = []string{
	"", ".", "..", "../escape", "a/../../escape", "a/../b", "./a", "a/", "/abs", "a//b", `a\b`, "a\x00b",
	".hidden", "processors-files/.tmp-x", "parquet-files", "parquet-files/x", "metadata.json",
	"builder_config.json",
}

// Run runs the suite. newSink returns a fresh, empty sink for one subtest (subtests run in
// parallel); read returns what that sink holds.
func Run(t *testing.T, newSink func(t *testing.T) lifecycle.Sink, read func(t *testing.T, s lifecycle.Sink) Readback) {
	t.Helper()
	ctx := context.Background()

	// readback reads and registers the release.
	readback := func(t *testing.T, s lifecycle.Sink) Readback {
		t.Helper()
		rb := read(t, s)
		t.Cleanup(rb.Release)
		return rb
	}
	// writeSides writes group with a side of SideRecord(group, rows, dir) per dir.
	writeSides := func(t *testing.T, s lifecycle.Sink, group, rows int, dirs ...string) wire.Commit {
		t.Helper()
		g := Group(group, rows, dirs...)
		defer ReleaseGroup(g)
		c, err := s.WriteGroup(ctx, g)
		require.NoError(t, err)
		require.Equal(t, group, c.Group)
		require.Equal(t, rows, c.Rows)
		require.NotEmpty(t, c.Path)
		if len(dirs) == 0 {
			require.Empty(t, c.Sides, "a group without sides commits none")
		} else {
			require.Len(t, c.Sides, len(dirs))
			names := map[string]bool{c.Path: true}
			for _, dir := range dirs {
				require.NotEmpty(t, c.Sides[dir], "commit of side %q", dir)
				require.False(t, names[c.Sides[dir]], "side %q shares the name %q", dir, c.Sides[dir])
				names[c.Sides[dir]] = true
			}
		}
		return c
	}
	write := func(t *testing.T, s lifecycle.Sink, group, rows int) wire.Commit {
		t.Helper()
		return writeSides(t, s, group, rows)
	}

	t.Run("WriteReadBack", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		sizes := map[int]int{0: 10, 1: 7, 2: 1}
		paths := map[string]int{}
		for g := range 3 {
			c := write(t, s, g, sizes[g])
			paths[c.Path]++
		}
		require.Len(t, paths, 3, "each group has its own path")
		rb := readback(t, s)
		requireGroups(t, rb, sizes)
		require.Nil(t, rb.Meta, "no metadata before Finalize")
	})

	t.Run("SidesReadBack", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		c0 := writeSides(t, s, 0, 6, DroppedDir, ProcDir)
		c1 := write(t, s, 1, 4)
		c2 := writeSides(t, s, 2, 3, ProcDir)
		require.NotEqual(t, c0.Sides[ProcDir], c2.Sides[ProcDir], "each group has its own side name")
		require.NotContains(t, []string{c0.Path, c2.Path}, c1.Path)
		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{0: 6, 1: 4, 2: 3})
		requireSides(t, rb, map[int]int{0: 6, 1: 4, 2: 3}, map[int][]string{0: {DroppedDir, ProcDir}, 2: {ProcDir}})
	})

	t.Run("RewriteWithSidesLeavesOneCopy", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		first := writeSides(t, s, 3, 9, DroppedDir, ProcDir)
		writeSides(t, s, 4, 2, DroppedDir)
		second := writeSides(t, s, 3, 9, DroppedDir, ProcDir)
		require.Equal(t, first, second, "a redelivered group commits under the same names")
		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{3: 9, 4: 2})
		requireSides(t, rb, map[int]int{3: 9, 4: 2}, map[int][]string{3: {DroppedDir, ProcDir}, 4: {DroppedDir}})
	})

	t.Run("RejectsInvalidSides", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		for _, dir := range InvalidSideDirs {
			// A valid side first: a refused group writes none of its sides either.
			g := Group(0, 3, DroppedDir)
			bad := SideRecord(0, 3, "bad")
			g.Sides = append(g.Sides, lifecycle.Side{Dir: dir, Rec: bad})
			_, err := s.WriteGroup(ctx, g)
			ReleaseGroup(g)
			require.ErrorIs(t, err, sinks.ErrInvalidSide, "Dir %q", dir)
			require.ErrorContains(t, err, fmt.Sprintf("%q", dir), "the error names the folder")
		}
		g := Group(0, 3, DroppedDir, DroppedDir)
		_, err := s.WriteGroup(ctx, g)
		ReleaseGroup(g)
		require.ErrorIs(t, err, sinks.ErrInvalidSide, "the same Dir twice")
		g = Group(0, 3)
		g.Sides = []lifecycle.Side{{Dir: ProcDir}}
		_, err = s.WriteGroup(ctx, g)
		ReleaseGroup(g)
		require.ErrorIs(t, err, sinks.ErrInvalidSide, "a nil side record")
		require.ErrorContains(t, err, ProcDir)

		rb := readback(t, s)
		require.Empty(t, rb.Groups)
		requireSides(t, rb, nil, nil)
	})

	t.Run("EmptySide", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		g := Group(5, 4)
		empty := SideRecord(5, 0, ProcDir)
		g.Sides = []lifecycle.Side{{Dir: ProcDir, Rec: empty}}
		c, err := s.WriteGroup(ctx, g)
		ReleaseGroup(g)
		require.NoError(t, err, "a side may hold no rows")
		require.Len(t, c.Sides, 1)
		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{5: 4})
		require.Len(t, rb.Sides[5], 1)
		want := SideRecord(5, 0, ProcDir)
		defer want.Release()
		RequireRecordsEqual(t, want, rb.Sides[5][ProcDir])
	})

	t.Run("DuplicateWriteIsHarmless", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		first := write(t, s, 4, 12)
		write(t, s, 5, 3)
		second := write(t, s, 4, 12)
		require.Equal(t, first, second, "a redelivered group commits under the same name")
		requireGroups(t, readback(t, s), map[int]int{4: 12, 5: 3})
	})

	t.Run("OutOfOrder", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		sizes := map[int]int{}
		for _, g := range []int{3, 0, 11, 2, 1} {
			sizes[g] = 5 + g
			write(t, s, g, sizes[g])
		}
		requireGroups(t, readback(t, s), sizes)
	})

	t.Run("FinalizeWritesMetadata", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		var paths []string
		for g := range 2 {
			paths = append(paths, write(t, s, g, 4).Path)
		}
		meta := Metadata(paths)
		require.NoError(t, s.Finalize(ctx, meta))
		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{0: 4, 1: 4})
		requireMeta(t, meta, rb.Meta)

		// Finalize is idempotent too: the controller may resend it.
		require.NoError(t, s.Finalize(ctx, meta))
		requireMeta(t, meta, readback(t, s).Meta)
	})

	t.Run("FinalizeRejectsInvalidBuilderConfig", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		write(t, s, 0, 2)
		for _, bc := range []json.RawMessage{nil, json.RawMessage(`{"columns":`)} {
			meta := Metadata(nil)
			meta.BuilderConfig = bc
			err := s.Finalize(ctx, meta)
			require.ErrorIs(t, err, sinks.ErrInvalidBuilderConfig)
		}
		require.Nil(t, readback(t, s).Meta, "a rejected Finalize writes no metadata")
	})

	t.Run("DiscardKeepsCommittedGroups", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		write(t, s, 0, 3)
		write(t, s, 2, 6)
		require.NoError(t, s.Discard(ctx))
		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{0: 3, 2: 6})
		require.Nil(t, rb.Meta, "a discarded run has no metadata")
		require.NoError(t, s.Discard(ctx), "Discard is idempotent")
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		write(t, s, 0, 2)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		g := Group(1, 5, ProcDir)
		defer ReleaseGroup(g)
		_, err := s.WriteGroup(cctx, g)
		require.ErrorIs(t, err, context.Canceled)
		err = s.Finalize(cctx, Metadata(nil))
		require.ErrorIs(t, err, context.Canceled)

		rb := readback(t, s)
		requireGroups(t, rb, map[int]int{0: 2})
		requireSides(t, rb, map[int]int{0: 2}, nil)
		require.Nil(t, rb.Meta)
	})

	t.Run("CancelCauseIsKept", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		stop := errors.New("shutting down")
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(stop)
		g := Group(0, 1)
		defer ReleaseGroup(g)
		_, err := s.WriteGroup(cctx, g)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, stop)
	})

	t.Run("RejectsEmptyAndInvalidGroups", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		empty := Group(0, 0, ProcDir)
		defer ReleaseGroup(empty)
		_, err := s.WriteGroup(ctx, empty)
		require.ErrorIs(t, err, sinks.ErrEmptyGroup)

		g := Group(0, 1, ProcDir)
		defer ReleaseGroup(g)
		_, err = s.WriteGroup(ctx, lifecycle.Group{Index: -1, Main: g.Main, Sides: g.Sides})
		require.ErrorIs(t, err, sinks.ErrInvalidGroup)
		_, err = s.WriteGroup(ctx, lifecycle.Group{Sides: g.Sides})
		require.ErrorIs(t, err, sinks.ErrInvalidGroup)

		rb := readback(t, s)
		require.Empty(t, rb.Groups)
		requireSides(t, rb, nil, nil)
	})

	t.Run("ConcurrentWrites", func(t *testing.T) {
		t.Parallel()
		s := newSink(t)
		const groups, workers = 16, 4
		sizes := map[int]int{}
		for g := range groups {
			sizes[g] = 20 + g
		}
		work := make(chan int)
		errs := make(chan error, 2*groups) // every group is written twice
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for g := range work {
					// Every group has sides in the same folders, which the first writes create.
					grp := Group(g, sizes[g], ProcDir, DroppedDir)
					c, err := s.WriteGroup(ctx, grp)
					ReleaseGroup(grp)
					if err == nil && (c.Group != g || c.Rows != sizes[g] || len(c.Sides) != 2) {
						err = fmt.Errorf("group %d: commit %+v", g, c)
					}
					errs <- err
				}
			})
		}
		// Every group twice, so that writes of the same group race too.
		for range 2 {
			for g := range groups {
				work <- g
			}
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		rb := readback(t, s)
		requireGroups(t, rb, sizes)
		dirs := map[int][]string{}
		for g := range sizes {
			dirs[g] = []string{ProcDir, DroppedDir}
		}
		requireSides(t, rb, sizes, dirs)
	})
}

// Group returns a test group: Record(index, rows) with a side of SideRecord(index, rows, dir)
// per dir, in that order. Release it with ReleaseGroup.
func Group(index, rows int, dirs ...string) lifecycle.Group {
	g := lifecycle.Group{Index: index, Main: Record(index, rows)}
	for _, dir := range dirs {
		g.Sides = append(g.Sides, lifecycle.Side{Dir: dir, Rec: SideRecord(index, rows, dir)})
	}
	return g
}

// ReleaseGroup releases the records of g.
func ReleaseGroup(g lifecycle.Group) {
	if g.Main != nil {
		g.Main.Release()
	}
	for _, s := range g.Sides {
		if s.Rec != nil {
			s.Rec.Release()
		}
	}
}

// SideRecord returns a deterministic side record for a group, unlike Record in its columns and
// unlike another side's in its values, so that a side read back from the wrong place fails.
// Columns: id int, dir str, dropped str; dropped holds nulls.
func SideRecord(group, rows int, dir string) arrow.RecordBatch {
	f := frame.New(rows)
	id := frame.NewColumn("id", frame.Int, rows)
	d := frame.NewColumn("dir", frame.String, rows)
	dropped := frame.NewColumn("dropped", frame.String, rows)
	for i := range rows {
		id.Ints[i] = int64(group*100_000 + i)
		d.Strings[i] = dir
		dropped.Strings[i] = fmt.Sprintf("%s: group %d row %d", dir, group, i)
		if i%4 == 2 {
			dropped.SetNull(i)
		}
	}
	for _, c := range []*frame.Column{id, d, dropped} {
		if err := f.Put(c); err != nil {
			panic(err) // lengths match by construction
		}
	}
	return f.ToRecord(nil)
}

// Record returns a deterministic test record for a group: the same (group, rows) always gives
// the same content, so a redelivery writes identical data. Columns: id int, group int,
// text str, score float, ok bool; text and score hold nulls.
func Record(group, rows int) arrow.RecordBatch {
	f := frame.New(rows)
	id := frame.NewColumn("id", frame.Int, rows)
	grp := frame.NewColumn("group", frame.Int, rows)
	text := frame.NewColumn("text", frame.String, rows)
	score := frame.NewColumn("score", frame.Float, rows)
	ok := frame.NewColumn("ok", frame.Bool, rows)
	for i := range rows {
		id.Ints[i] = int64(group*100_000 + i)
		grp.Ints[i] = int64(group)
		text.Strings[i] = fmt.Sprintf("group %d row %d: é ✓", group, i)
		score.Floats[i] = float64(group) + float64(i)/8
		ok.Bools[i] = (group+i)%2 == 0
		if i%7 == 3 {
			text.SetNull(i)
		}
		if i%5 == 1 {
			score.SetNull(i)
		}
	}
	for _, c := range []*frame.Column{id, grp, text, score, ok} {
		if err := f.Put(c); err != nil {
			panic(err) // lengths match by construction
		}
	}
	return f.ToRecord(nil)
}

// Metadata returns a test metadata record with a builder config.
func Metadata(paths []string) wire.Metadata {
	return wire.Metadata{
		TargetNumRecords: 8,
		ActualNumRecords: 8,
		TotalNumBatches:  len(paths),
		BufferSize:       4,
		DatasetName:      "conformance",
		FilePaths:        map[string][]string{"parquet-files": paths},
		ConfigHash:       "sha256:0123",
		RunID:            "run-1",
		Seed:             42,
		Outcome:          "completed",
		BuilderConfig:    json.RawMessage(`{"columns": [{"name": "id", "column_type": "sampler"}], "model_configs": []}`),
	}
}

// requireGroups checks that rb holds exactly the groups of sizes, each equal to Record(g, n).
func requireGroups(t *testing.T, rb Readback, sizes map[int]int) {
	t.Helper()
	got := make([]int, 0, len(rb.Groups))
	for g := range rb.Groups {
		got = append(got, g)
	}
	want := make([]int, 0, len(sizes))
	for g := range sizes {
		want = append(want, g)
	}
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got, "stored groups")
	for g, n := range sizes {
		exp := Record(g, n)
		RequireRecordsEqual(t, exp, rb.Groups[g])
		exp.Release()
	}
}

// requireSides checks that rb holds exactly the sides of dirs for the groups of sizes, each
// equal to SideRecord(g, sizes[g], dir); groups absent from dirs have none.
func requireSides(t *testing.T, rb Readback, sizes map[int]int, dirs map[int][]string) {
	t.Helper()
	for g, sides := range rb.Sides {
		if len(sides) == 0 {
			continue
		}
		got := slices.Sorted(maps.Keys(sides))
		want := slices.Sorted(slices.Values(dirs[g]))
		require.Equal(t, want, got, "side folders of group %d", g)
	}
	for g, ds := range dirs {
		require.Len(t, rb.Sides[g], len(ds), "sides of group %d", g)
		for _, dir := range ds {
			exp := SideRecord(g, sizes[g], dir)
			RequireRecordsEqual(t, exp, rb.Sides[g][dir])
			exp.Release()
		}
	}
}

// RequireRecordsEqual checks that got holds want's columns (names, types, values, nulls) in
// order. Schema metadata is ignored: a schema read back from Parquet carries field ids.
func RequireRecordsEqual(t *testing.T, want, got arrow.RecordBatch) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.NumRows(), got.NumRows(), "rows")
	require.Equal(t, want.NumCols(), got.NumCols(), "columns")
	for i, wf := range want.Schema().Fields() {
		gf := got.Schema().Field(i)
		require.Equal(t, wf.Name, gf.Name, "column %d name", i)
		require.True(t, arrow.TypeEqual(wf.Type, gf.Type), "column %q type: want %s, got %s", wf.Name, wf.Type, gf.Type)
		require.True(t, array.Equal(want.Column(i), got.Column(i)), "column %q values:\nwant %v\ngot  %v", wf.Name, want.Column(i), got.Column(i))
	}
}

// requireMeta checks got against want, BuilderConfig byte for byte: sinks store it verbatim.
func requireMeta(t *testing.T, want wire.Metadata, got *wire.Metadata) {
	t.Helper()
	require.NotNil(t, got, "metadata after Finalize")
	g := *got
	require.Equal(t, string(want.BuilderConfig), string(g.BuilderConfig), "builder config")
	want.BuilderConfig, g.BuilderConfig = nil, nil
	require.Equal(t, want, g)
}
