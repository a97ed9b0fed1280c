package generators

import (
	"context"
	"fmt"
	"strings"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Embedder is an embedding model (llm.Model).
type Embedder interface {
	Embed(ctx context.Context, text string) ([]float32, error)
}

// Embedding returns the cell generator of an embedding column: the vector of its target
// column's text. A target that holds a list of texts (Data Designer embeds each) is an error
// for its row: a cell holds one vector.
func Embedding(col *config.Column, m Embedder) (*scheduler.Generator, error) {
	if col.Embedding == nil {
		return nil, fmt.Errorf("column %q: not an embedding column", col.Name)
	}
	target := col.Embedding.TargetColumn
	cell := func(ctx context.Context, row map[string]any) (any, error) {
		text := pyfmt.Str(row[target])
		if s, ok := row[target].(string); ok {
			text = s
			if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
				return nil, fmt.Errorf("column %q: %q holds a list of texts; an embedding column embeds one text per row", col.Name, target)
			}
		}
		vec, err := m.Embed(ctx, text)
		if err != nil {
			if modelFailed(err) {
				return nil, &scheduler.FatalError{Err: &scheduler.ColumnError{Column: col.Name, Err: err}}
			}
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
		return vec, nil
	}
	return withSkip(&scheduler.Generator{Name: col.Name, Type: frame.Vector, Cell: cell}, col)
}
