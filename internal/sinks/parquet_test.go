package sinks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/sinks/sinktest"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

func TestParquetConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t,
		func(t *testing.T) lifecycle.Sink {
			p, err := sinks.NewParquet(filepath.Join(t.TempDir(), "dataset"), sinks.ParquetOptions{})
			require.NoError(t, err)
			return p
		},
		func(t *testing.T, s lifecycle.Sink) sinktest.Readback {
			return readParquetDir(t, s.(*sinks.Parquet).Dir())
		})
}

// readParquetDir reads a dataset folder back the way a user's loader sees it: every
// parquet-files/batch_*.parquet, every batch_*.parquet of any other folder as a side dataset of
// that folder, and metadata.json with builder_config.json if present.
func readParquetDir(t *testing.T, dir string) sinktest.Readback {
	t.Helper()
	rb := sinktest.Readback{Groups: map[int]arrow.RecordBatch{}, Sides: map[int]map[string]arrow.RecordBatch{}}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ok, _ := filepath.Match("batch_*.parquet", d.Name()); !ok {
			return nil
		}
		var g int
		_, err = fmt.Sscanf(d.Name(), "batch_%05d.parquet", &g)
		require.NoError(t, err, path)
		require.Equal(t, sinks.SideFile(".", g), d.Name(), "canonical name")
		rel, err := filepath.Rel(dir, filepath.Dir(path))
		require.NoError(t, err)
		if folder := filepath.ToSlash(rel); folder == sinks.ParquetFilesDir {
			rb.Groups[g] = readParquetFile(t, path)
		} else {
			if rb.Sides[g] == nil {
				rb.Sides[g] = map[string]arrow.RecordBatch{}
			}
			rb.Sides[g][folder] = readParquetFile(t, path)
		}
		return nil
	})
	require.NoError(t, err)
	body, err := os.ReadFile(filepath.Join(dir, sinks.MetadataFile))
	if os.IsNotExist(err) {
		return rb
	}
	require.NoError(t, err)
	var meta wire.Metadata
	require.NoError(t, json.Unmarshal(body, &meta))
	meta.BuilderConfig, err = os.ReadFile(filepath.Join(dir, sinks.BuilderConfigFile))
	require.NoError(t, err)
	rb.Meta = &meta
	return rb
}

// readParquetFile reads one file with pqarrow into a single record, which the caller releases.
func readParquetFile(t *testing.T, path string) arrow.RecordBatch {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err, path)
	defer tbl.Release()
	if tbl.NumRows() == 0 { // a side may hold no rows; a table reader yields no record then
		cols := make([]arrow.Array, tbl.NumCols())
		for i := range cols {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, tbl.Schema().Field(i).Type, 0)
			defer cols[i].Release()
		}
		return array.NewRecordBatch(tbl.Schema(), cols, 0)
	}
	tr := array.NewTableReader(tbl, tbl.NumRows())
	defer tr.Release()
	require.True(t, tr.Next(), "%s holds no rows", path)
	rec := tr.RecordBatch()
	rec.Retain()
	return rec
}

// TestParquetReadByIndependentReader proves the output loads outside Arrow Go: parquet-go, a
// separate implementation, reads the file's rows, names and values (nulls included).
func TestParquetReadByIndependentReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)

	f := frame.New(4)
	name := frame.NewColumn("name", frame.String, 4)
	copy(name.Strings, []string{"Ada", "Grace", "", "Edsger"})
	name.SetNull(2)
	age := frame.NewColumn("age", frame.Int, 4)
	copy(age.Ints, []int64{36, 85, 0, 72})
	score := frame.NewColumn("score", frame.Float, 4)
	copy(score.Floats, []float64{0.5, 1.25, -3, 1e9})
	ok := frame.NewColumn("ok", frame.Bool, 4)
	copy(ok.Bools, []bool{true, false, true, false})
	ok.SetNull(3)
	for _, c := range []*frame.Column{name, age, score, ok} {
		require.NoError(t, f.Put(c))
	}
	rec := f.ToRecord(nil)
	defer rec.Release()

	c, err := p.WriteGroup(context.Background(), lifecycle.Group{Index: 7, Main: rec})
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 7, Rows: 4, Path: "parquet-files/batch_00007.parquet"}, c)

	path := filepath.Join(dir, filepath.FromSlash(c.Path))
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	st, err := fh.Stat()
	require.NoError(t, err)
	pf, err := pq.OpenFile(fh, st.Size())
	require.NoError(t, err)
	require.EqualValues(t, 4, pf.NumRows())
	require.Len(t, pf.RowGroups(), 1, "one row group per file")
	var names []string
	for _, fld := range pf.Schema().Fields() {
		names = append(names, fld.Name())
	}
	require.Equal(t, []string{"name", "age", "score", "ok"}, names)

	type row struct {
		Name  *string  `parquet:"name,optional"`
		Age   *int64   `parquet:"age,optional"`
		Score *float64 `parquet:"score,optional"`
		OK    *bool    `parquet:"ok,optional"`
	}
	rows, err := pq.Read[row](fh, st.Size())
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, "Ada", *rows[0].Name)
	require.Equal(t, int64(85), *rows[1].Age)
	require.Nil(t, rows[2].Name, "a null string stays null")
	require.Equal(t, -3.0, *rows[2].Score)
	require.Equal(t, 1e9, *rows[3].Score)
	require.Nil(t, rows[3].OK, "a null bool stays null")
	require.True(t, *rows[0].OK)
}

// TestParquetFolderLayout checks what the folder looks like around the writes: no temp files
// remain, files are 0644 with one row group, rewrites are byte-identical, and metadata.json
// appears only with Finalize.
func TestParquetFolderLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out", "my-dataset")
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	require.DirExists(t, filepath.Join(dir, "parquet-files"), "NewParquet creates the folders")

	var paths []string
	for g := range 3 {
		rec := sinktest.Record(g, 100)
		c, err := p.WriteGroup(ctx, lifecycle.Group{Index: g, Main: rec})
		rec.Release()
		require.NoError(t, err)
		paths = append(paths, c.Path)
	}
	require.Equal(t, []string{
		"parquet-files/batch_00000.parquet",
		"parquet-files/batch_00001.parquet",
		"parquet-files/batch_00002.parquet",
	}, paths)
	requireNoTempFiles(t, dir)
	require.NoFileExists(t, filepath.Join(dir, sinks.MetadataFile), "no metadata before Finalize")
	require.NoFileExists(t, filepath.Join(dir, sinks.BuilderConfigFile))

	for _, rel := range paths {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), rel)
		r, err := file.OpenParquetFile(path, false)
		require.NoError(t, err)
		require.Equal(t, 1, r.NumRowGroups(), rel)
		require.NoError(t, r.Close())
	}

	// A redelivered group replaces its file with the same bytes.
	before, err := os.ReadFile(filepath.Join(dir, paths[1]))
	require.NoError(t, err)
	rec := sinktest.Record(1, 100)
	_, err = p.WriteGroup(ctx, lifecycle.Group{Index: 1, Main: rec})
	rec.Release()
	require.NoError(t, err)
	after, err := os.ReadFile(filepath.Join(dir, paths[1]))
	require.NoError(t, err)
	require.Equal(t, before, after)
	requireNoTempFiles(t, dir)

	meta := sinktest.Metadata(paths)
	require.NoError(t, p.Finalize(ctx, meta))
	requireNoTempFiles(t, dir)
	bc, err := os.ReadFile(filepath.Join(dir, sinks.BuilderConfigFile))
	require.NoError(t, err)
	require.Equal(t, string(meta.BuilderConfig), string(bc), "builder config is written verbatim")
	body, err := os.ReadFile(filepath.Join(dir, sinks.MetadataFile))
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(body, &keys))
	for _, k := range []string{"target_num_records", "actual_num_records", "total_num_batches",
		"buffer_size", "dataset_name", "file_paths"} {
		require.Contains(t, keys, k, "Data Designer's metadata.json key")
	}
	require.NotContains(t, keys, "BuilderConfig")
	for _, name := range []string{sinks.MetadataFile, sinks.BuilderConfigFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), name)
	}
}

func TestParquetDiscardRemovesOnlyTempFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	rec := sinktest.Record(0, 5)
	defer rec.Release()
	_, err = p.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: rec})
	require.NoError(t, err)

	g := sinktest.Group(1, 5, sinktest.DroppedDir, sinktest.ProcDir)
	defer sinktest.ReleaseGroup(g)
	c, err := p.WriteGroup(ctx, g)
	require.NoError(t, err)

	// What a crash mid-write leaves behind, in side folders too; the sink that discards is
	// a new one (a restarted sinkd), which has not seen the side folders.
	leftovers := []string{
		filepath.Join(dir, "parquet-files", ".tmp-batch_00001.parquet-123"),
		filepath.Join(dir, ".tmp-metadata.json-456"),
		filepath.Join(dir, sinktest.DroppedDir, ".tmp-batch_00002.parquet-789"),
		filepath.Join(dir, "processors-files", "summary", ".tmp-batch_00002.parquet-1011"),
	}
	for _, f := range leftovers {
		require.NoError(t, os.WriteFile(f, []byte("half"), 0o600))
	}
	p, err = sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, p.Discard(cctx), "Discard runs on the abort path, where ctx is often cancelled")
	requireNoTempFiles(t, dir)
	require.FileExists(t, filepath.Join(dir, "parquet-files", "batch_00000.parquet"))
	for _, rel := range append(slices.Collect(maps.Values(c.Sides)), c.Path) {
		require.FileExists(t, filepath.Join(dir, filepath.FromSlash(rel)))
	}
}

// TestParquetSideLayout checks where sides go: <Side.Dir>/batch_NNNNN.parquet, named like the
// main file, created with their folders, 0644, one row group, rewritten byte for byte.
func TestParquetSideLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ds")
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)

	g := sinktest.Group(7, 50, sinktest.DroppedDir, sinktest.ProcDir)
	defer sinktest.ReleaseGroup(g)
	c, err := p.WriteGroup(ctx, g)
	require.NoError(t, err)
	require.Equal(t, wire.Commit{Group: 7, Rows: 50, Path: "parquet-files/batch_00007.parquet", Sides: map[string]string{
		"dropped-columns-parquet-files": "dropped-columns-parquet-files/batch_00007.parquet",
		"processors-files/summary":      "processors-files/summary/batch_00007.parquet",
	}}, c)
	requireNoTempFiles(t, dir)
	for _, side := range g.Sides {
		path := filepath.Join(dir, filepath.FromSlash(c.Sides[side.Dir]))
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), side.Dir)
		r, err := file.OpenParquetFile(path, false)
		require.NoError(t, err)
		require.Equal(t, 1, r.NumRowGroups(), side.Dir)
		require.NoError(t, r.Close())
		got := readParquetFile(t, path)
		sinktest.RequireRecordsEqual(t, side.Rec, got)
		got.Release()
	}

	side := filepath.Join(dir, filepath.FromSlash(c.Sides[sinktest.ProcDir]))
	before, err := os.ReadFile(side)
	require.NoError(t, err)
	again, err := p.WriteGroup(ctx, g)
	require.NoError(t, err)
	require.Equal(t, c, again)
	after, err := os.ReadFile(side)
	require.NoError(t, err)
	require.Equal(t, before, after, "a rewrite replaces a side file with the same bytes")
	entries, err := os.ReadDir(filepath.Dir(side))
	require.NoError(t, err)
	require.Len(t, entries, 1, "one copy")
	requireNoTempFiles(t, dir)
}

// Sides are written before the main file: when a side cannot be written, the group has no main
// file, so it does not read as committed.
func TestParquetSideFailureLeavesNoMainFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	// A file where the side's parent folder should be.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "processors-files"), []byte("in the way"), 0o644))

	g := sinktest.Group(3, 4, sinktest.DroppedDir, sinktest.ProcDir)
	defer sinktest.ReleaseGroup(g)
	_, err = p.WriteGroup(context.Background(), g)
	require.Error(t, err)
	require.ErrorContains(t, err, "group 3")
	require.ErrorContains(t, err, `"processors-files/summary"`)
	require.NoFileExists(t, filepath.Join(dir, filepath.FromSlash(sinks.BatchFile(3))))
	requireNoTempFiles(t, dir)

	// A null in a non-nullable side column is refused before anything is written.
	require.NoError(t, os.Remove(filepath.Join(dir, "processors-files")))
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues([]int64{1, 0}, []bool{true, false})
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bad := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
	defer bad.Release()
	main := sinktest.Record(4, 2)
	defer main.Release()
	_, err = p.WriteGroup(context.Background(), lifecycle.Group{Index: 4, Main: main, Sides: []lifecycle.Side{
		{Dir: sinktest.DroppedDir, Rec: g.Sides[0].Rec}, {Dir: "strict", Rec: bad},
	}})
	require.ErrorContains(t, err, `side "strict": column "n" is not nullable`)
	require.NoFileExists(t, filepath.Join(dir, filepath.FromSlash(sinks.SideFile(sinktest.DroppedDir, 4))))
	require.NoDirExists(t, filepath.Join(dir, "strict"))
}

func TestParquetOptions(t *testing.T) {
	t.Parallel()
	_, err := sinks.NewParquet(t.TempDir(), sinks.ParquetOptions{Compression: "lzo-ish"})
	require.Error(t, err)
	_, err = sinks.NewParquet("", sinks.ParquetOptions{})
	require.Error(t, err)

	rec := sinktest.Record(2, 300)
	defer rec.Release()
	for _, codec := range []string{"", "snappy", "ZSTD", "gzip", "none", "uncompressed"} {
		dir := t.TempDir()
		p, err := sinks.NewParquet(dir, sinks.ParquetOptions{Compression: codec, DictionaryColumns: []string{"group"}})
		require.NoError(t, err, codec)
		c, err := p.WriteGroup(context.Background(), lifecycle.Group{Index: 2, Main: rec})
		require.NoError(t, err, codec)
		got := readParquetFile(t, filepath.Join(dir, c.Path))
		sinktest.RequireRecordsEqual(t, rec, got)
		got.Release()
	}
}

func TestParquetWriteErrorNamesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "parquet-files")))
	rec := sinktest.Record(9, 1)
	defer rec.Release()
	_, err = p.WriteGroup(context.Background(), lifecycle.Group{Index: 9, Main: rec})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "group 9")
	require.ErrorContains(t, err, "batch_00009.parquet")
}

func TestParquetRejectsNullsInNonNullableColumn(t *testing.T) {
	t.Parallel()
	p, err := sinks.NewParquet(t.TempDir(), sinks.ParquetOptions{})
	require.NoError(t, err)
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues([]string{"a", "", "c"}, []bool{true, false, true})
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "answer", Type: arrow.BinaryTypes.String, Nullable: false}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 3)
	defer rec.Release()
	_, err = p.WriteGroup(context.Background(), lifecycle.Group{Index: 0, Main: rec})
	require.ErrorContains(t, err, `column "answer" is not nullable`)
	require.NoFileExists(t, filepath.Join(p.Dir(), sinks.BatchFile(0)))
}

func requireNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			return fmt.Errorf("temp file left: %s", path)
		}
		return nil
	})
	require.NoError(t, err)
}

// benchRecord is 10k rows of 8 columns of mixed types, about the size of a real group.
func benchRecord(rows int) arrow.RecordBatch {
	f := frame.New(rows)
	cols := []*frame.Column{
		frame.NewColumn("id", frame.Int, rows),
		frame.NewColumn("age", frame.Int, rows),
		frame.NewColumn("score", frame.Float, rows),
		frame.NewColumn("weight", frame.Float, rows),
		frame.NewColumn("active", frame.Bool, rows),
		frame.NewColumn("name", frame.String, rows),
		frame.NewColumn("city", frame.String, rows),
		frame.NewColumn("review", frame.String, rows),
	}
	cities := []string{"Lisbon", "Nairobi", "Osaka", "Quito", "Tromsø", "Winnipeg"}
	x := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for i := range rows {
		cols[0].Ints[i] = int64(i)
		cols[1].Ints[i] = int64(18 + next()%70)
		cols[2].Floats[i] = float64(next()%10_000) / 100
		cols[3].Floats[i] = float64(next()) / (1 << 64) * 120
		cols[4].Bools[i] = next()%2 == 0
		cols[5].Strings[i] = fmt.Sprintf("person-%08x", next()%1e8)
		cols[6].Strings[i] = cities[next()%uint64(len(cities))]
		cols[7].Strings[i] = fmt.Sprintf("Review %d: the product was %s and arrived after %d days; would buy again: %t. %x",
			i, []string{"great", "fine", "poor"}[next()%3], next()%14, next()%2 == 0, next())
	}
	for _, c := range cols {
		if err := f.Put(c); err != nil {
			panic(err)
		}
	}
	return f.ToRecord(nil)
}

func BenchmarkParquetWriteGroup(b *testing.B) {
	const rows = 10_000
	rec := benchRecord(rows)
	defer rec.Release()
	for _, codec := range []string{"snappy", "zstd", "none"} {
		b.Run(codec, func(b *testing.B) {
			p, err := sinks.NewParquet(b.TempDir(), sinks.ParquetOptions{Compression: codec})
			require.NoError(b, err)
			ctx := context.Background()
			b.SetBytes(recordBytes(rec))
			b.ReportAllocs()
			g := 0
			for b.Loop() {
				if _, err := p.WriteGroup(ctx, lifecycle.Group{Index: g % 64, Main: rec}); err != nil {
					b.Fatal(err)
				}
				g++
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// recordBytes is the size of rec's Arrow buffers, the in-memory bytes a write consumes.
// (arrow/util.TotalRecordSize would pull a module this project does not carry.)
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		for _, buf := range col.Data().Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
	}
	return n
}

// An embedding column is written as Parquet list<float32> and read back as the same vectors.
func TestParquetVectorColumn(t *testing.T) {
	t.Parallel()
	p, err := sinks.NewParquet(filepath.Join(t.TempDir(), "dataset"), sinks.ParquetOptions{})
	require.NoError(t, err)
	f := frame.New(3)
	v := frame.NewColumn("vec", frame.Vector, 3)
	v.Vectors[0], v.Vectors[2] = []float32{0.5, -1.25, 3}, []float32{}
	v.SetNull(1)
	require.NoError(t, f.Put(v))
	rec := f.ToRecord(nil)
	defer rec.Release()
	_, err = p.WriteGroup(context.Background(), lifecycle.Group{Index: 0, Main: rec})
	require.NoError(t, err)
	back := readParquetFile(t, filepath.Join(p.Dir(), "parquet-files", "batch_00000.parquet"))
	defer back.Release()
	lt, ok := back.Schema().Field(0).Type.(*arrow.ListType)
	require.True(t, ok, "a Parquet list: %s", back.Schema().Field(0).Type)
	require.Equal(t, arrow.FLOAT32, lt.Elem().ID())
	got, err := frame.FromRecord(back)
	require.NoError(t, err)
	require.Equal(t, []float32{0.5, -1.25, 3}, got.Column("vec").Vectors[0])
	require.True(t, got.Column("vec").IsNull(1))
	require.Equal(t, []float32{}, got.Column("vec").Vectors[2])
}
