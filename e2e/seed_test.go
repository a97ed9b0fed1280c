package e2e

import (
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

	"github.com/rowforge/rowforge/internal/testbin"
)

// seedConfig is a config over a seed of tickets (ticket int, product str) at seedPath, with
// a sampler and an expression that reads the seed's columns.
func seedConfig(seedPath, sampling, extra string) string {
	return fmt.Sprintf(`seed_config:
  source: {seed_type: local, path: %q}
  sampling_strategy: %s
%s
columns:
  - {name: tier, column_type: sampler, sampler_type: category, params: {values: [free, pro]}}
  - {name: line, column_type: expression, expr: "{{ product }} #{{ ticket }} ({{ tier }})"}
`, seedPath, sampling, extra)
}

// writeTicketsCSV writes n tickets: ticket i+1, product p<i mod 5>.
func writeTicketsCSV(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("ticket,product\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,p%d\n", i+1, i%5)
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

// writeTicketsParquet writes the same tickets as Parquet, in row groups of groupRows.
func writeTicketsParquet(t *testing.T, path string, n, groupRows int) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ticket", Type: arrow.PrimitiveTypes.Int64},
		{Name: "product", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("p%d", i%5))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	fh, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(schema, fh, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(groupRows))), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
}

// tickets returns the ticket column of a dataset, in order.
func tickets(t *testing.T, ds dataset) []int64 {
	t.Helper()
	var out []int64
	for _, tb := range ds.Tables {
		require.Equal(t, []string{"ticket", "product", "tier", "line"}, tb.Columns, "the seed's columns come first")
		for i, v := range tb.column(t, "ticket") {
			out = append(out, v.(int64))
			require.Equal(t, fmt.Sprintf("%s #%d (%s)", tb.Rows[i][1], v, tb.Rows[i][2]), tb.Rows[i][3], "templates read the seed's columns")
		}
	}
	return out
}

func requireSameRows(t *testing.T, a, b dataset) {
	t.Helper()
	require.Equal(t, len(a.Tables), len(b.Tables))
	for i := range a.Tables {
		require.Equal(t, a.Tables[i], b.Tables[i], "batch %d", i)
	}
}

// TestSeedDatasetAcrossWorkers: an ordered seed is used in order and from its start again;
// a shuffled one takes each selected row once per pass, in an order the run's seed fixes;
// either way one worker and three give the same dataset.
func TestSeedDatasetAcrossWorkers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTicketsCSV(t, filepath.Join(dir, "data", "tickets.csv"), 37)

	run := func(cfg string, workers int) dataset {
		out := t.TempDir()
		res := controller(t, dir, "run", "-f", writeConfig(t, cfg), "-n", "100", "--buffer-size", "30",
			"--seed", "5", "--workers", fmt.Sprint(workers), "--out", out, "--name", "ds")
		requireCode(t, 0, res, "controller run")
		return readDataset(t, filepath.Join(out, "ds"))
	}

	ordered := seedConfig("data/tickets.csv", "ordered", "")
	one, three := run(ordered, 1), run(ordered, 3)
	requireSameRows(t, one, three)
	got := tickets(t, one)
	require.Len(t, got, 100)
	for k, v := range got {
		require.EqualValues(t, k%37+1, v, "row %d: the seed's rows in order, from its start again", k)
	}

	shuffled := seedConfig("data/tickets.csv", "shuffle", "  selection_strategy: {start: 10, end: 29}")
	one, three = run(shuffled, 1), run(shuffled, 3)
	requireSameRows(t, one, three)
	got = tickets(t, one)
	var want []int64
	for i := int64(11); i <= 30; i++ {
		want = append(want, i)
	}
	for pass := range 5 {
		rows := slices.Sorted(slices.Values(got[pass*20 : pass*20+20]))
		require.Equal(t, want, rows, "pass %d takes each selected row once", pass)
	}
	require.NotEqual(t, got[:20], got[20:40], "each pass has its own order")
}

// TestSeedDistributedWorkersNeverReadIt: the seed's path resolves only in the controller's
// folder; the workers and sinkd run elsewhere and get the rows in the prepared groups. The
// dataset equals a local-mode run's.
func TestSeedDistributedWorkersNeverReadIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTicketsParquet(t, filepath.Join(dir, "seed", "tickets.parquet"), 250, 40)
	cfg := writeConfig(t, seedConfig("seed/tickets.parquet", "shuffle", ""))
	common := []string{"run", "-f", cfg, "-n", "600", "--buffer-size", "100", "--seed", "11", "--name", "ds"}

	ns := testbin.StartNATSServer(t)
	outA := t.TempDir()
	workers, sinkd := startServices(t, ns.URL, outA, 2)
	for _, w := range workers {
		require.NotEqual(t, dir, w.Cmd.Dir, "the workers run outside the seed's folder")
	}
	dist := controller(t, dir, append(common, "--nats-url", ns.URL)...)
	requireCode(t, 0, dist, "distributed run")

	outB := t.TempDir()
	local := controller(t, dir, append(common, "--out", outB)...)
	requireCode(t, 0, local, "local run")
	a, b := readDataset(t, filepath.Join(outA, "ds")), readDataset(t, filepath.Join(outB, "ds"))
	requireSameRows(t, a, b)
	require.Len(t, tickets(t, a), 600)
	stopGracefully(t, append(workers, sinkd)...)
}

// TestSeedErrors: a seed that cannot be used is a config error naming it, before anything is
// created on the server; a constraint no draw meets fails the run with nothing written.
func TestSeedErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTicketsCSV(t, filepath.Join(dir, "tickets.csv"), 10)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.csv"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "corrupt.parquet"), []byte("PAR1 not really"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ragged.csv"), []byte("a,b\n1,2\n3\n"), 0o644))

	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"missing file", seedConfig("nope.csv", "ordered", ""), []string{"seed_config.source", "nope.csv", "is not a file"}},
		{"empty file", seedConfig("empty.csv", "ordered", ""), []string{"empty.csv", "the file is empty"}},
		{"corrupt parquet", seedConfig("corrupt.parquet", "ordered", ""), []string{"corrupt.parquet", "not a readable Parquet file"}},
		{"ragged csv", seedConfig("ragged.csv", "ordered", ""), []string{"ragged.csv"}},
		{"selection out of bounds", seedConfig("tickets.csv", "ordered", "  selection_strategy: {start: 0, end: 10}"), []string{"end index 10 is out of bounds", "10 rows"}},
		{"unknown seed column", strings.Replace(seedConfig("tickets.csv", "ordered", ""), "{{ ticket }}", "{{ tiket }}", 1),
			[]string{`column "line"`, `unknown reference "tiket": did you mean "ticket"?`}},
		{"unsupported locale", `columns: [{name: who, column_type: sampler, sampler_type: person_from_faker, params: {locale: fr_FR}}]`,
			[]string{`column "who"`, `"fr_FR"`, "not served"}},
		{"missing persona dataset", `columns: [{name: who, column_type: sampler, sampler_type: person, params: {locale: ko_KR}}]`,
			[]string{`column "who"`, "datasets/ko_KR.parquet", "download"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := testbin.StartNATSServer(t)
			res := controller(t, dir, "run", "-f", writeConfig(t, tc.config), "-n", "10", "--nats-url", ns.URL)
			requireCode(t, 2, res, "controller run")
			require.True(t, strings.HasPrefix(res.Stderr, "config error:"), "stderr: %q", res.Stderr)
			for _, w := range tc.want {
				require.Contains(t, res.Stderr, w)
			}
			require.Empty(t, streamNames(t, connect(t, ns.URL)), "nothing is created on the server")
		})
	}

	t.Run("impossible constraint", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		cfg := seedConfig("tickets.csv", "ordered", "") + `  - {name: score, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
constraints: [{target_column: score, operator: gt, rhs: 1}]
`
		res := controller(t, dir, "run", "-f", writeConfig(t, cfg), "-n", "50", "--out", out, "--name", "ds")
		requireCode(t, 1, res, "controller run")
		require.Contains(t, res.Stderr, `column "score"`)
		require.Contains(t, res.Stderr, "constraints[0] (score gt 1.0)")
		matches, err := filepath.Glob(filepath.Join(out, "ds", "*", "*.parquet"))
		require.NoError(t, err)
		require.Empty(t, matches, "no batch is written")
		_, err = os.Stat(filepath.Join(out, "ds", "metadata.json"))
		require.True(t, os.IsNotExist(err), "no metadata.json")
	})
}
