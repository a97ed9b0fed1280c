package deploy_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

const parityConfig = `
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: n, column_type: sampler, sampler_type: gaussian, params: {mean: 10, stddev: 3, decimal_places: 2}}
  - {name: secret, column_type: sampler, sampler_type: bernoulli, params: {p: 0.3}, drop: true}
  - {name: label, column_type: expression, expr: "{{ 'high' if n > 10 else 'low' }}/{{ secret }}"}
processors:
  - {name: passthrough, processor_type: exec, stage: pre_batch, command: [cat]}
  - {name: identity, processor_type: exec, command: [cat]}
`

func load(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text))
	require.NoError(t, err)
	return cfg
}

func run(t *testing.T, cfg *config.Config, mode string, out string) (*deploy.Summary, error) {
	t.Helper()
	return deploy.Run(context.Background(), deploy.Params{
		Config: cfg, Workers: 2, Out: out, Logger: slog.New(slog.DiscardHandler),
		Run: lifecycle.Options{Mode: mode, NumRecords: 40, BufferSize: 40, Seed: 17, DatasetName: "parity"},
	})
}

// readParquet reads one Parquet file into a frame.
func readParquet(t *testing.T, path string) *frame.Frame {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	require.NoError(t, err)
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	tbl, err := fr.ReadTable(context.Background())
	require.NoError(t, err)
	defer tbl.Release()
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	require.True(t, tr.Next())
	out, err := frame.FromRecord(tr.RecordBatch())
	require.NoError(t, err)
	return out
}

// Build and preview differ only by their sink: with the same seed, a buffer size of N and the
// same processors, they give the same rows.
func TestBuildPreviewParity(t *testing.T) {
	t.Parallel()
	cfg := load(t, parityConfig)
	out := t.TempDir()
	_, err := run(t, cfg, wire.ModeBuild, out)
	require.NoError(t, err)
	built := readParquet(t, filepath.Join(out, "parity", "parquet-files", "batch_00000.parquet"))

	sum, err := run(t, cfg, wire.ModePreview, t.TempDir())
	require.NoError(t, err)
	require.Len(t, sum.Records, 1)
	t.Cleanup(func() { sum.Records[0].Release() })
	previewed, err := frame.FromRecord(sum.Records[0])
	require.NoError(t, err)

	require.Equal(t, 40, built.Len())
	require.Equal(t, built.Len(), previewed.Len())
	require.Len(t, previewed.Columns(), 3, "id, n, label: the dropped column is gone")
	for _, c := range previewed.Columns() {
		require.Equal(t, c, built.Column(c.Name), "column %s", c.Name)
	}
}

// A PRE_BATCH resize fails fast in preview as in build.
func TestPreBatchResizeFailsInBothModes(t *testing.T) {
	t.Parallel()
	cfg := load(t, `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
processors:
  - {name: shrink, processor_type: exec, stage: pre_batch, command: [sh, -c, "head -n 3"]}
`)
	for _, mode := range []string{wire.ModeBuild, wire.ModePreview} {
		out := t.TempDir()
		sum, err := run(t, cfg, mode, out)
		var re *lifecycle.ResizeError
		require.ErrorAs(t, err, &re, mode)
		require.Equal(t, cli.ExitFailed, cli.ExitCode(err))
		require.Equal(t, "generation error", cli.ErrorLine(err)[:len("generation error")])
		require.Equal(t, wire.RunFailed, sum.Result.Status)
		require.Empty(t, sum.Records)
		_, statErr := os.Stat(filepath.Join(out, "parity", "metadata.json"))
		require.ErrorIs(t, statErr, os.ErrNotExist, "a failed run never writes metadata")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                          "nats://127.0.0.1:4222",
		"nats://bob:s3cret@n1:4222,nats://bob:s3cret@n2": "nats://bob:xxxxx@n1:4222,nats://bob:xxxxx@n2",
		"tls://tok3n@n1:4222":                            "tls://xxxxx@n1:4222",
	} {
		require.Equal(t, want, deploy.Redact(in))
	}
}
