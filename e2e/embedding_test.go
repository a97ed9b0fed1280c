package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/frame"
)

// An embedding column through the whole pipeline (prepared group, worker, outcome, sink): the
// Parquet file holds list<float32> vectors, the stand-in endpoint's vectors of the text.
func TestEmbeddingColumnInParquet(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	cfg := writeConfig(t, fmt.Sprintf(`
model_providers: [{name: stub, endpoint: "%s", api_key: STUB_API_KEY}]
model_configs:
  - {alias: emb, model: e, provider: stub, inference_parameters: {dimensions: 6}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: vec, column_type: embedding, target_column: topic, model_alias: emb}
`, stub.Start(t)))
	out := t.TempDir()
	res := runCommandEnv(t, "", append(envWithout("NATS_URL"), "STUB_API_KEY=k"), testbin.Binary(t, "controller"),
		"run", "-f", cfg, "-n", "60", "--buffer-size", "25", "--out", out, "--name", "emb", "--seed", "3")
	requireCode(t, 0, res, "run")
	matches, err := filepath.Glob(filepath.Join(out, "emb", "parquet-files", "*.parquet"))
	require.NoError(t, err)
	require.Len(t, matches, 3)
	rows := 0
	for _, m := range matches {
		pf, err := file.OpenParquetFile(m, false)
		require.NoError(t, err)
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		rr, err := fr.GetRecordReader(context.Background(), nil, nil)
		require.NoError(t, err)
		for rr.Next() {
			f, err := frame.FromRecord(rr.RecordBatch())
			require.NoError(t, err, "%s", m)
			for i, topic := range f.Column("topic").Strings {
				require.Equal(t, llmstub.Embedding(topic, 6), f.Column("vec").Vectors[i])
			}
			rows += f.Len()
		}
		rr.Release()
		require.NoError(t, pf.Close())
	}
	require.Equal(t, 60, rows)
}
