package config

import (
	"fmt"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// laterColumnTypes are the Data Designer column types that rowforge does not generate yet (the
// LLM types it does: see IsLLM). They get their own message so that a user knows the config
// is valid Data Designer, not a typo.
var laterColumnTypes = map[string]bool{
	"image": true, "custom": true,
}

// columnTypes are the column types rowforge generates.
var columnTypes = []string{
	TypeSampler, TypeExpression, TypeValidation, TypeEmbedding, TypeLLMText, TypeLLMCode, TypeLLMStructured, TypeLLMJudge,
}

// parseColumn decodes the i-th entry of `columns`. It returns nil when the entry is not a
// mapping; otherwise the column as far as it could be decoded, and whether it was decoded
// without problems. A column with problems is still returned so that references to it from
// other columns are not reported as unknown as well.
func parseColumn(p *problems, i int, v any) (*Column, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("", fmt.Sprintf("columns[%d]", i), "want a column mapping, got %s", describe(v))
		return nil, false
	}
	before := len(p.errs)
	col := &Column{}
	// A column is named by its name; one without a usable name by its position.
	prefix := fmt.Sprintf("columns[%d].", i)
	if n, ok := m["name"].(string); ok && strings.TrimSpace(n) != "" {
		col.Name, prefix = n, ""
	}
	f := newFields(p, col.Name, prefix, "key", m)
	if n, ok := f.str("name", true); ok && strings.TrimSpace(n) == "" {
		f.errorf("name", "must not be empty")
	}
	col.Drop, _ = f.bool("drop")
	col.PropagateSkip = true
	if ps, ok := f.bool("propagate_skip"); ok {
		col.PropagateSkip = ps
	}

	ct, ok := f.str("column_type", true)
	col.Type = ct
	switch {
	case !ok:
		return col, false // without a type the allowed keys are unknown
	case ct == TypeSampler:
		parseSampler(f, i, col)
	case ct == TypeExpression:
		parseExpression(f, col)
	case ct == TypeSeedDataset: // a name only: the seed's own column stands for it
	case ct == TypeValidation:
		parseValidation(f, col)
	case ct == TypeEmbedding:
		parseEmbedding(f, col)
	case IsLLM(ct):
		parseLLM(f, col)
	case laterColumnTypes[ct]:
		f.errorf("column_type", "column_type %q is not supported yet", ct)
		return col, false
	default:
		f.errorf("column_type", "%s", unknownMsg("column_type", ct, columnTypes))
		return col, false
	}
	if sv, ok := f.get("skip"); ok {
		parseSkip(f, col, sv)
	}
	f.unknown()
	return col, len(p.errs) == before
}

// parseExpression decodes an expression column: a Jinja template and the type its rendered
// text is converted to.
func parseExpression(f *fields, col *Column) {
	col.Expr, col.Inputs = f.template("expr", true)
	dtype, _ := f.str("dtype", false)
	t, err := frame.ParseType(dtype)
	if err != nil {
		f.errorf("dtype", "%v", err)
	}
	col.DType, col.Output = t, t
}
