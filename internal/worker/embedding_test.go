package worker_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/frame"
)

const embeddingConfig = `
model_configs:
  - {alias: m, model: stub-model, provider: stub}
  - {alias: e, model: stub-embedder, provider: stub, inference_parameters: {generation_type: embedding, dimensions: 5, max_parallel_requests: 2}}
  - {alias: e64, model: stub-embedder, provider: stub, inference_parameters: {encoding_format: base64}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: blurb, column_type: llm-text, model_alias: m, prompt: "About {{ topic }}"}
  - {name: vec, column_type: embedding, target_column: blurb, model_alias: e}
  - {name: vec64, column_type: embedding, target_column: topic, model_alias: e64}
`

// An embedding column holds the embedding model's vector of its target's text: with the
// model's dimensions, and decoded from base64 when the model asks for it.
func TestEmbeddingColumn(t *testing.T) {
	t.Parallel()
	out, stub := runOnStub(t, embeddingConfig, llmstub.Options{
		Reply: func(req *llmstub.ChatRequest) string { return "All about " + req.Messages[0].Content },
	}, 30)
	require.Equal(t, scheduler.Completed, out.Status, "%v", out.Err)
	f := out.Frame
	require.Equal(t, frame.Vector, f.Column("vec").Type)
	for i, topic := range f.Column("topic").Strings {
		require.Equal(t, llmstub.Embedding(f.Column("blurb").Strings[i], 5), f.Column("vec").Vectors[i])
		require.Equal(t, llmstub.Embedding(topic, llmstub.DefaultEmbeddingDimensions), f.Column("vec64").Vectors[i])
	}
	require.EqualValues(t, 30*3, stub.Stats().Completed, "a chat request and two embeddings per row")
}
