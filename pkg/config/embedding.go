package config

import (
	"github.com/rowforge/rowforge/pkg/frame"
)

// TypeEmbedding is Data Designer's embedding column: the embedding of another column's text,
// from an embedding model.
const TypeEmbedding = "embedding"

// GenerationEmbedding is the generation_type of embedding models.
const GenerationEmbedding = "embedding"

// Embedding is an embedding column's settings; its model alias is in Column.LLM.
type Embedding struct {
	TargetColumn string
}

// parseEmbedding decodes an embedding column: target_column and model_alias. Its values are
// vectors (Parquet list<float32>).
func parseEmbedding(f *fields, col *Column) {
	e := &Embedding{}
	col.Embedding, col.Output = e, frame.Vector
	if t, ok := f.str("target_column", true); ok {
		e.TargetColumn = t
		col.Inputs = []string{t}
	}
	col.LLM = &LLM{ModelAlias: nonBlank(f, "model_alias")}
}
