package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

const (
	seedRecords   = 200_000 // records each seeded run generates, whatever the seed's size
	seedGroupRows = 100_000 // rows per row group of the seed files, and per write
	smallSeedRows = 50_000
	largeSeedRows = 5_000_000
)

// BenchmarkSeedMemory measures the controller's peak RSS in a distributed deployment when the
// config has a seed dataset: the same 200k records over a 50k-row and a 5M-row Parquet seed,
// ordered (only the rows needed are read), and the 5M-row seed shuffled (spilled to bucket
// files, one bucket held in memory). Reading a seed, row group by row group, must not load
// it: the 5M/50k ratio should stay near 1.
func BenchmarkSeedMemory(b *testing.B) {
	dir := b.TempDir()
	small := filepath.Join(dir, "seed50k.parquet")
	large := filepath.Join(dir, "seed5M.parquet")
	writeSeedParquet(b, small, smallSeedRows)
	writeSeedParquet(b, large, largeSeedRows)
	smallCfg := writeSeedConfig(b, dir, "small-ordered.yaml", small, "ordered")
	largeCfg := writeSeedConfig(b, dir, "large-ordered.yaml", large, "ordered")
	shuffleCfg := writeSeedConfig(b, dir, "large-shuffle.yaml", large, "shuffle")

	var s, l, sh seedRunResult
	b.ResetTimer()
	for range b.N {
		s = controllerSeedRun(b, smallCfg, seedRecords)
		l = controllerSeedRun(b, largeCfg, seedRecords)
		sh = controllerSeedRun(b, shuffleCfg, seedRecords)
	}
	b.StopTimer()

	ratio := l.mib / s.mib
	b.ReportMetric(s.mib, "ctrl-MiB@seed50k")
	b.ReportMetric(l.mib, "ctrl-MiB@seed5M")
	b.ReportMetric(ratio, "seed-rss-ratio")
	b.ReportMetric(sh.mib, "ctrl-MiB@seed5M-shuffle")
	fmt.Printf("\nrowforge seeded run, %d rows, buffer size %d, Parquet seed in row groups of %d rows\n", seedRecords, bufferSize, seedGroupRows)
	fmt.Printf("  controller peak RSS, 50k-row seed, ordered:  %8.1f MiB  (run %s)\n", s.mib, s.wall)
	fmt.Printf("  controller peak RSS, 5M-row seed, ordered:   %8.1f MiB  (run %s)\n", l.mib, l.wall)
	fmt.Printf("  ratio 5M / 50k:                              %8.2f      (target <= 1.3)\n", ratio)
	fmt.Printf("  controller peak RSS, 5M-row seed, shuffle:   %8.1f MiB  (run %s)\n\n", sh.mib, sh.wall)
}

// seedSchema is a seed of products: an id, a short product name, a ~80-byte description that
// differs from row to row, and a price.
var seedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "product", Type: arrow.BinaryTypes.String},
	{Name: "description", Type: arrow.BinaryTypes.String},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
}, nil)

var seedWords = []string{"battery", "screen", "hinge", "charger", "speaker", "keyboard", "sensor", "firmware"}

// writeSeedParquet writes n seed rows as Snappy-compressed Parquet, one row group of
// seedGroupRows per write, so that at most one group's rows are held at a time.
func writeSeedParquet(b *testing.B, path string, n int) {
	b.Helper()
	fh, err := os.Create(path)
	require.NoError(b, err)
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(seedGroupRows), parquet.WithCompression(compress.Codecs.Snappy))
	w, err := pqarrow.NewFileWriter(seedSchema, fh, props, pqarrow.DefaultWriterProps())
	require.NoError(b, err)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, seedSchema)
	defer rb.Release()
	ids := rb.Field(0).(*array.Int64Builder)
	products := rb.Field(1).(*array.StringBuilder)
	descs := rb.Field(2).(*array.StringBuilder)
	prices := rb.Field(3).(*array.Float64Builder)
	for lo := 0; lo < n; lo += seedGroupRows {
		for i := lo; i < min(lo+seedGroupRows, n); i++ {
			ids.Append(int64(i))
			products.Append("product_" + strconv.Itoa(i%50))
			descs.Append(fmt.Sprintf("Ticket %08d: the %s of unit %06d fails after %3d days; customer asks for a fix.",
				i, seedWords[(i*7+i/13)%len(seedWords)], (i*7919)%1_000_000, i%365))
			prices.Append(float64(i%10_000)/100 + 0.99)
		}
		rec := rb.NewRecordBatch()
		err := w.Write(rec)
		rec.Release()
		require.NoError(b, err)
	}
	require.NoError(b, w.Close())
	md, err := w.FileMetadata()
	require.NoError(b, err)
	require.EqualValues(b, n, md.NumRows)
}

// writeSeedConfig writes a config over the seed at seedPath (absolute) with a sampler column
// and an expression reading a seed column.
func writeSeedConfig(b *testing.B, dir, name, seedPath, sampling string) string {
	b.Helper()
	cfg := fmt.Sprintf(`seed_config:
  source: {seed_type: local, path: %q}
  sampling_strategy: %s
columns:
  - {name: tier, column_type: sampler, sampler_type: category, params: {values: [a, b]}}
  - {name: line, column_type: expression, expr: "{{ product }} {{ tier }}"}
`, seedPath, sampling)
	p := filepath.Join(dir, name)
	require.NoError(b, os.WriteFile(p, []byte(cfg), 0o644))
	return p
}

type seedRunResult struct {
	mib  float64       // the controller's peak RSS
	wall time.Duration // the run's duration as the controller reports it
}

var runLineRe = regexp.MustCompile(`(\d+) of (\d+) records .* in (\S+), peak memory (\d+) MiB`)

// controllerSeedRun is controllerPeakRSS that also returns the run's duration and checks every
// record was written; the controller's temporary files (a shuffle's buckets) go to a folder of
// the benchmark's.
func controllerSeedRun(b *testing.B, config string, n int) seedRunResult {
	b.Helper()
	srv := testbin.StartNATSServer(b)
	out := b.TempDir()
	for range 2 {
		testbin.StartProcess(b, testbin.Binary(b, "worker"), []string{"--nats-url", srv.URL, "--log-level", "warn"}, nil)
	}
	testbin.StartProcess(b, testbin.Binary(b, "sinkd"), []string{"--nats-url", srv.URL, "--out", out, "--log-level", "warn"}, nil)
	ctrl := testbin.StartProcess(b, testbin.Binary(b, "controller"), []string{"run", "-f", config,
		"-n", strconv.Itoa(n), "--buffer-size", strconv.Itoa(bufferSize), "--seed", "1", "--nats-url", srv.URL},
		[]string{"TMPDIR=" + b.TempDir()})
	require.NoError(b, ctrl.Wait(), ctrl.Output.String())
	m := runLineRe.FindStringSubmatch(ctrl.Output.String())
	require.NotNil(b, m, ctrl.Output.String())
	require.Equal(b, m[1], m[2], "every record is written: %s", m[0])
	wall, err := time.ParseDuration(m[3])
	require.NoError(b, err)
	mib, err := strconv.ParseFloat(m[4], 64)
	require.NoError(b, err)
	return seedRunResult{mib: mib, wall: wall}
}
