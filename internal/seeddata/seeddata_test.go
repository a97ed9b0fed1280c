package seeddata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// writeParquet writes rows id 0..n-1 (int64), name "n<id>" (string, every 7th null) and a
// score (float64) in row groups of groupRows.
func writeParquet(t *testing.T, path string, n, groupRows int) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 6 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("n%d", i))
		}
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	fh, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(schema, fh, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(groupRows))), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func open(t *testing.T, sc *config.SeedConfig, opts Options) *Dataset {
	t.Helper()
	d, err := Open(context.Background(), sc, opts)
	require.NoError(t, err)
	return d
}

func local(path string) *config.SeedConfig {
	return &config.SeedConfig{Source: config.SeedSource{Type: config.SeedLocal, Path: path}, Sampling: config.SamplingOrdered}
}

// ids reads the id column of the run's rows [offset, offset+n).
func ids(t *testing.T, r *Reader, offset int64, n int) []int64 {
	t.Helper()
	f, err := r.Rows(context.Background(), offset, n)
	require.NoError(t, err)
	require.Equal(t, n, f.Len())
	return f.Column("id").Ints
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestParquetOrdered(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "s.parquet")
	writeParquet(t, p, 100, 30)
	d := open(t, local(p), Options{})
	require.Equal(t, []config.SeedColumn{{Name: "id", Type: frame.Int}, {Name: "name", Type: frame.String}, {Name: "score", Type: frame.Float}}, d.Columns())
	require.EqualValues(t, 100, d.Len())

	r := d.Reader(1)
	defer r.Close()
	require.Equal(t, seq(0, 40), ids(t, r, 0, 40))
	require.Equal(t, append(seq(80, 100), seq(0, 20)...), ids(t, r, 80, 40), "ordered wraps around")
	require.Equal(t, seq(50, 60), ids(t, r, 250, 10), "any offset, as a resumed run asks")
	f, err := r.Rows(context.Background(), 5, 3)
	require.NoError(t, err)
	name := f.Column("name")
	require.Equal(t, "n5", name.Strings[0])
	require.True(t, name.IsNull(1), "row 6 is null")
	require.Equal(t, []float64{2.5, 3, 3.5}, f.Column("score").Floats)
}

func TestSelection(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "s.parquet")
	writeParquet(t, p, 100, 30)
	sc := local(p)
	sc.Selection = &config.Selection{Start: 25, End: 34}
	r := open(t, sc, Options{}).Reader(1)
	defer r.Close()
	require.Equal(t, append(seq(25, 35), seq(25, 30)...), ids(t, r, 0, 15))

	sc.Selection = &config.Selection{Index: 2, Partitions: 3} // rows 66..99: the last block takes the rest
	d := open(t, sc, Options{})
	require.EqualValues(t, 34, d.Len())
	r2 := d.Reader(1)
	defer r2.Close()
	require.Equal(t, seq(66, 100), ids(t, r2, 0, 34))

	sc.Selection = &config.Selection{Start: 0, End: 100}
	_, err := Open(context.Background(), sc, Options{})
	require.ErrorContains(t, err, "end index 100 is out of bounds for the seed dataset's 100 rows")
}

func TestShuffle(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "s.parquet")
	writeParquet(t, p, 1000, 128)
	sc := local(p)
	sc.Sampling = config.SamplingShuffle
	sc.Selection = &config.Selection{Start: 100, End: 899}
	d := open(t, sc, Options{BucketRows: 150, TempDir: t.TempDir()}) // 6 buckets

	r := d.Reader(42)
	pass0 := ids(t, r, 0, 800)
	pass1 := ids(t, r, 800, 800)
	for _, pass := range [][]int64{pass0, pass1} {
		sorted := slices.Sorted(slices.Values(pass))
		require.Equal(t, seq(100, 900), sorted, "each pass takes each selected row once")
	}
	require.NotEqual(t, pass0, pass1, "a new order each pass")
	require.NotEqual(t, seq(100, 900), pass0)

	// The same rows at any offset and in any read order; another seed, another order.
	again := d.Reader(42)
	require.Equal(t, pass1[10:60], ids(t, again, 810, 50))
	require.Equal(t, pass0[700:], ids(t, again, 700, 100))
	other := d.Reader(43)
	require.NotEqual(t, pass0, ids(t, other, 0, 800))
	require.NoError(t, r.Close())
	require.NoError(t, again.Close())
	require.NoError(t, other.Close())

	// A selection that fits one bucket is ordered in memory: the same properties, no files.
	tmp := t.TempDir()
	small := open(t, sc, Options{TempDir: tmp}).Reader(42)
	defer small.Close()
	p0, p1 := ids(t, small, 0, 800), ids(t, small, 800, 800)
	require.Equal(t, seq(100, 900), slices.Sorted(slices.Values(p0)))
	require.Equal(t, seq(100, 900), slices.Sorted(slices.Values(p1)))
	require.NotEqual(t, p0, p1)
	require.Equal(t, pass0, p0, "the same permutation whatever the bucket size")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing spilled")
}

func TestCSV(t *testing.T) {
	t.Parallel()
	p := writeFile(t, filepath.Join(t.TempDir(), "s.csv"),
		"\ufeffid,price,flag,note,empty\n1,2.5,true,\"a, quoted\",\n2,3,false,plain,\n3,,TRUE,,\n")
	d := open(t, local(p), Options{})
	require.Equal(t, []config.SeedColumn{{Name: "id", Type: frame.Int}, {Name: "price", Type: frame.Float}, {Name: "flag", Type: frame.Bool}, {Name: "note", Type: frame.String}, {Name: "empty", Type: frame.String}}, d.Columns())
	r := d.Reader(0)
	defer r.Close()
	f, err := r.Rows(context.Background(), 0, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3}, f.Column("id").Ints)
	require.Equal(t, []float64{2.5, 3, 0}, f.Column("price").Floats)
	require.True(t, f.Column("price").IsNull(2))
	require.Equal(t, []bool{true, false, true}, f.Column("flag").Bools)
	require.Equal(t, "a, quoted", f.Column("note").Strings[0])
	require.True(t, f.Column("empty").IsNull(0))

	// A row the inferred types do not fit is found when the seed is opened, not mid-run.
	var b strings.Builder
	b.WriteString("id,n\n")
	for i := range 30000 {
		fmt.Fprintf(&b, "%d,%d\n", i, i)
	}
	b.WriteString("30000,thirty thousand\n")
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.csv"), b.String())
	_, err = Open(context.Background(), local(bad), Options{})
	require.ErrorContains(t, err, "bad.csv")
}

func TestJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines := writeFile(t, filepath.Join(dir, "s.jsonl"),
		`{"id": 1, "who": {"name": "Ada", "tags": ["x", "y"]}, "v": 1}`+"\n"+
			`{"id": 2, "who": {"name": "Bo"}, "v": 2.5, "extra": true}`+"\n\n")
	d := open(t, local(lines), Options{})
	require.Equal(t, []config.SeedColumn{{Name: "id", Type: frame.Int}, {Name: "who", Type: frame.String}, {Name: "v", Type: frame.Float}, {Name: "extra", Type: frame.Bool}}, d.Columns(),
		"the file's key order")
	r := d.Reader(0)
	defer r.Close()
	f, err := r.Rows(context.Background(), 0, 2)
	require.NoError(t, err)
	require.JSONEq(t, `{"name": "Ada", "tags": ["x", "y"]}`, f.Column("who").Strings[0])
	require.JSONEq(t, `{"name": "Bo", "tags": null}`, f.Column("who").Strings[1])
	require.Equal(t, []float64{1, 2.5}, f.Column("v").Floats)

	// A column that mixes text and numbers is read as text, as DuckDB reads it.
	mixed := writeFile(t, filepath.Join(dir, "mixed.jsonl"), `{"z": 1, "id": "A1"}`+"\n"+`{"z": 2, "id": 2}`+"\n"+`{"z": 3, "id": true}`+"\n")
	d = open(t, local(mixed), Options{})
	require.Equal(t, []config.SeedColumn{{Name: "z", Type: frame.Int}, {Name: "id", Type: frame.String}}, d.Columns())
	rm := d.Reader(0)
	f, err = rm.Rows(context.Background(), 0, 3)
	require.NoError(t, err)
	require.Equal(t, []string{"A1", "2", "true"}, f.Column("id").Strings)
	require.NoError(t, rm.Close())

	arr := writeFile(t, filepath.Join(dir, "arr.json"), `[ {"id": 1, "s": "a,]}"}, {"id": 2, "s": "b"} ]`)
	d = open(t, local(arr), Options{})
	r2 := d.Reader(0)
	defer r2.Close()
	require.Equal(t, []int64{1, 2}, ids(t, r2, 0, 2))

	for name, text := range map[string]string{
		"empty.jsonl":  "",
		"scalar.jsonl": "1\n2\n",
		"broken.jsonl": `{"id": 1}` + "\n{\"id\": \n",
	} {
		_, err := Open(context.Background(), local(writeFile(t, filepath.Join(dir, name), text)), Options{})
		require.ErrorContains(t, err, name)
	}
}

func TestLocalPatterns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.csv"), "id\n3\n4\n")
	writeFile(t, filepath.Join(dir, "a.csv"), "id\n1\n2\n")
	d := open(t, local(filepath.Join(dir, "*.csv")), Options{})
	r := d.Reader(0)
	defer r.Close()
	require.Equal(t, []int64{1, 2, 3, 4, 1}, ids(t, r, 0, 5), "files in name order, one after the other")

	rel := open(t, local("*.csv"), Options{BaseDir: dir})
	require.EqualValues(t, 4, rel.Len(), "relative paths resolve against the base")

	writeFile(t, filepath.Join(dir, "other", "x.csv"), "id\n1\n")
	writeFile(t, filepath.Join(dir, "other", "y.csv"), "key\n1\n")
	for _, tc := range []struct{ path, msg string }{
		{filepath.Join(dir, "missing.csv"), "is not a file"},
		{filepath.Join(dir, "none", "*.parquet"), `does not contain files of type "parquet"`},
		{filepath.Join(dir, "a*.csv"), "only a folder's files of one type"},
		{writeFile(t, filepath.Join(dir, "s.txt"), "x"), "must be Parquet, CSV or JSON"},
		{writeFile(t, filepath.Join(dir, "empty.csv"), ""), "empty.csv: the file is empty"},
		{writeFile(t, filepath.Join(dir, "header.csv"), "id\n"), "has no rows"},
		{writeFile(t, filepath.Join(dir, "junk.parquet"), "not parquet"), "junk.parquet: not a readable Parquet file"},
		{filepath.Join(dir, "other", "*.csv"), "the files of a seed must have the same columns"},
	} {
		_, err := Open(context.Background(), local(tc.path), Options{})
		require.ErrorContains(t, err, tc.msg, tc.path)
	}
}

func TestDirectoryAndFileContents(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "b.md"), "line one\r\nline two\r\n")
	writeFile(t, filepath.Join(root, "a.txt"), "skip me")
	writeFile(t, filepath.Join(root, "sub", "c.md"), "nested")
	writeFile(t, filepath.Join(root, ".hidden.md"), "hidden")
	require.NoError(t, os.WriteFile(filepath.Join(root, "latin.md"), []byte("caf\xe9"), 0o644))

	src := config.SeedSource{Type: config.SeedDirectory, Path: root, FilePattern: "*.md", Recursive: true, Encoding: "utf-8"}
	d := open(t, &config.SeedConfig{Source: src, Sampling: config.SamplingOrdered}, Options{})
	require.Equal(t, dirColumns, d.Columns())
	r := d.Reader(0)
	f, err := r.Rows(context.Background(), 0, 4)
	require.NoError(t, err)
	require.Equal(t, []string{".hidden.md", "b.md", "latin.md", "sub/c.md"}, f.Column("relative_path").Strings)
	require.Equal(t, []string{".hidden.md", "b.md", "latin.md", "c.md"}, f.Column("file_name").Strings)
	require.Equal(t, filepath.Join(root, "sub", "c.md"), f.Column("source_path").Strings[3])
	require.Equal(t, "directory_file", f.Column("source_kind").Strings[0])
	require.NoError(t, r.Close())

	src.Recursive, src.FilePattern = false, "[!.]*.md"
	d = open(t, &config.SeedConfig{Source: src, Sampling: config.SamplingOrdered}, Options{})
	require.EqualValues(t, 2, d.Len(), "not in subfolders; Python's [!…] negation")

	src.Type, src.Encoding, src.FilePattern = config.SeedFileContents, "latin-1", "*.md"
	d = open(t, &config.SeedConfig{Source: src, Sampling: config.SamplingOrdered}, Options{})
	r = d.Reader(0)
	f, err = r.Rows(context.Background(), 1, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"line one\nline two\n", "café"}, f.Column("content").Strings)
	require.Equal(t, "file_contents", f.Column("source_kind").Strings[0])
	require.NoError(t, r.Close())

	// UTF-8 is checked when a row is read.
	src.Encoding = "utf-8"
	d = open(t, &config.SeedConfig{Source: src, Sampling: config.SamplingOrdered}, Options{})
	r = d.Reader(0)
	_, err = r.Rows(context.Background(), 0, 3)
	require.ErrorContains(t, err, `latin.md using encoding "utf-8"`)
	require.NoError(t, r.Close())

	for _, tc := range []struct {
		src config.SeedSource
		msg string
	}{
		{config.SeedSource{Type: config.SeedDirectory, Path: filepath.Join(root, "nope"), FilePattern: "*"}, "does not exist"},
		{config.SeedSource{Type: config.SeedDirectory, Path: root, FilePattern: "*.pdf", Recursive: false}, `no files matched file_pattern "*.pdf" directly under`},
		{config.SeedSource{Type: config.SeedFileContents, Path: root, FilePattern: "*", Encoding: "klingon"}, `unknown encoding "klingon"`},
	} {
		_, err := Open(context.Background(), &config.SeedConfig{Source: tc.src}, Options{})
		require.ErrorContains(t, err, tc.msg)
	}
}

func TestHF(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	snap := filepath.Join(cache, "datasets--org--repo", "snapshots", "abc123")
	writeFile(t, filepath.Join(cache, "datasets--org--repo", "refs", "main"), "abc123\n")
	writeFile(t, filepath.Join(snap, "data", "train.csv"), "id\n7\n8\n")
	src := config.SeedSource{Type: config.SeedHF, Path: "datasets/org/repo/data/*.csv", Endpoint: config.DefaultHFEndpoint}
	d := open(t, &config.SeedConfig{Source: src}, Options{HFCache: cache})
	r := d.Reader(0)
	require.Equal(t, []int64{7, 8}, ids(t, r, 0, 2))
	require.NoError(t, r.Close())

	mirror := t.TempDir()
	writeFile(t, filepath.Join(mirror, "datasets", "org", "repo", "x", "part.jsonl"), `{"id": 9}`+"\n")
	src.Path, src.Endpoint = "datasets/org/repo/**/*.jsonl", "file://"+mirror
	require.EqualValues(t, 1, open(t, &config.SeedConfig{Source: src}, Options{}).Len())

	src.Path, src.Endpoint = "datasets/org/other/data.csv", config.DefaultHFEndpoint
	_, err := Open(context.Background(), &config.SeedConfig{Source: src}, Options{HFCache: cache})
	require.ErrorContains(t, err, "does not reach the Hugging Face hub")
	require.ErrorContains(t, err, "HF_HUB_CACHE")
}

func TestPermutation(t *testing.T) {
	t.Parallel()
	for _, n := range []uint64{1, 2, 3, 10, 1000, 4097} {
		p := newPermutation(n, 9, 0)
		seen := make([]bool, n)
		for i := range n {
			x := p.at(i)
			require.Less(t, x, n)
			require.False(t, seen[x], "n %d: %d twice", n, x)
			seen[x] = true
		}
	}
}
