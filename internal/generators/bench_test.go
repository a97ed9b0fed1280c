package generators

import (
	"context"
	"testing"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

func BenchmarkSeeds(b *testing.B) {
	cols := allSamplers()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Seeds(cols, 1, i, 10_000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpression(b *testing.B) {
	const n = 10_000
	age := sampler("age", config.SamplerUniform, frame.Int, &config.UniformParams{Low: 18, High: 90})
	age.ConvertTo = "int"
	f, err := Seeds([]*config.Column{
		age,
		sampler("name", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{"ada", "bob", "cy"}}),
	}, 1, 0, n)
	if err != nil {
		b.Fatal(err)
	}
	g, err := Expression(exprCol("label", "{% if age >= 65 %}{{ name | upper }} (senior){% else %}{{ name | title }}{% endif %}", frame.String, "age", "name"))
	if err != nil {
		b.Fatal(err)
	}
	rows := allRows(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := g.Column(context.Background(), f, rows); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSampler measures each sampler type alone (10k rows; a subcategory or timedelta
// includes its parent).
func BenchmarkSampler(b *testing.B) {
	cols := allSamplers()
	for i, col := range cols {
		set := []*config.Column{col}
		switch col.SamplerType {
		case config.SamplerSubcategory, config.SamplerTimedelta:
			set = []*config.Column{cols[i-1], col}
		}
		b.Run(col.SamplerType, func(b *testing.B) {
			b.ReportAllocs()
			for g := 0; b.Loop(); g++ {
				if _, err := Seeds(set, 1, g, 10_000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
