package generators

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// drawConfig parses a config and draws its sampler columns for one group.
func drawConfig(t *testing.T, yaml string, seed uint64, group, size int) (*frame.Frame, error) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	require.NoError(t, err)
	s, err := NewSamplers(cfg.SamplerColumns(), cfg.Constraints, SamplerOptions{})
	require.NoError(t, err)
	return s.Draw(seed, group, size)
}

func TestConstraintsHold(t *testing.T) {
	t.Parallel()
	f, err := drawConfig(t, `
columns:
  - {name: age, column_type: sampler, sampler_type: gaussian, params: {mean: 40, stddev: 20}, convert_to: int}
  - {name: score, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100}}
  - {name: bonus, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100}}
  - {name: start, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2024-12-31}}
  - {name: stop, column_type: sampler, sampler_type: datetime, params: {start: 2024-01-01, end: 2025-12-31}}
constraints:
  - {target_column: age, operator: ge, rhs: 18}
  - {target_column: age, operator: lt, rhs: "65"}
  - {constraint_type: column_inequality, target_column: bonus, operator: le, rhs: score}
  - {target_column: stop, operator: gt, rhs: start}
`, 7, 0, 2000)
	require.NoError(t, err)
	ages := f.Column("age").Ints
	seen18, seen64 := false, false
	for i, a := range ages {
		require.GreaterOrEqual(t, a, int64(18))
		require.Less(t, a, int64(65))
		seen18, seen64 = seen18 || a == 18, seen64 || a == 64
		require.LessOrEqual(t, f.Column("bonus").Floats[i], f.Column("score").Floats[i])
		require.Greater(t, f.Column("stop").Strings[i], f.Column("start").Strings[i]) // ISO text orders as time
	}
	require.True(t, seen18 && seen64, "the bounds are reachable (int conversion happens before the check)")
}

func TestConstraintsReproducible(t *testing.T) {
	t.Parallel()
	const cfg = `
columns:
  - {name: x, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
constraints: [{target_column: x, operator: gt, rhs: 0.9}]
`
	a, err := drawConfig(t, cfg, 3, 5, 500)
	require.NoError(t, err)
	b, err := drawConfig(t, cfg, 3, 5, 500)
	require.NoError(t, err)
	require.Equal(t, a.Column("x").Floats, b.Column("x").Floats)
	c, err := drawConfig(t, cfg, 4, 5, 500)
	require.NoError(t, err)
	require.NotEqual(t, a.Column("x").Floats, c.Column("x").Floats)
}

func TestImpossibleConstraintNamesIt(t *testing.T) {
	t.Parallel()
	_, err := drawConfig(t, `
columns:
  - {name: p, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
constraints: [{target_column: p, operator: gt, rhs: 2}]
`, 1, 0, 20)
	var rej *RejectionError
	require.True(t, errors.As(err, &rej), "%v", err)
	require.Equal(t, "p", rej.Column)
	require.Equal(t, 100, rej.Limit) // Data Designer's max_rejections_factor 5 × 20 rows
	require.Equal(t, 20, rej.Rows)
	require.ErrorContains(t, err, `constraints[0] (p gt 2.0)`)
}

func TestConditionalParams(t *testing.T) {
	t.Parallel()
	f, err := drawConfig(t, `
columns:
  - {name: tier, column_type: sampler, sampler_type: category, params: {values: [free, pro, team]}}
  - name: seats
    column_type: sampler
    sampler_type: uniform
    params: {low: 1, high: 2}
    convert_to: int
    conditional_params:
      "tier == 'team'": {low: 10, high: 50}
      "tier in ['pro', 'team']": {low: 100, high: 101}
  - name: when
    column_type: sampler
    sampler_type: datetime
    params: {start: 2020-01-01, end: 2020-01-02}
  - name: late
    column_type: sampler
    sampler_type: bernoulli
    params: {p: 0}
    conditional_params:
      "when >= '2020-01-01T00:00:00'": {p: 1}
`, 11, 2, 3000)
	require.NoError(t, err)
	counts := map[string]int{}
	for i, tier := range f.Column("tier").Strings {
		seats := f.Column("seats").Ints[i]
		counts[tier]++
		switch tier {
		case "free":
			require.Contains(t, []int64{1, 2}, seats)
		default:
			// "team" meets both conditions: the last one wins, as in Data Designer.
			require.Contains(t, []int64{100, 101}, seats, tier)
		}
		require.Equal(t, int64(1), f.Column("late").Ints[i], "instants are compared as ISO text")
	}
	require.Len(t, counts, 3)
}

func TestConditionalParamsWithConstraints(t *testing.T) {
	t.Parallel()
	f, err := drawConfig(t, `
columns:
  - {name: kind, column_type: sampler, sampler_type: category, params: {values: [a, b]}}
  - name: v
    column_type: sampler
    sampler_type: gaussian
    params: {mean: 0, stddev: 1}
    conditional_params: {"kind == 'b'": {mean: 100, stddev: 1}}
constraints: [{target_column: v, operator: gt, rhs: 0}]
`, 5, 0, 1000)
	require.NoError(t, err)
	for i, k := range f.Column("kind").Strings {
		v := f.Column("v").Floats[i]
		require.Greater(t, v, 0.0)
		if k == "b" {
			require.Greater(t, v, 90.0, "a redrawn row keeps its condition's params")
		} else {
			require.Less(t, v, 10.0)
		}
	}
}

// Every sampler_type config knows has a draw: a new sampler is one file in config and one here.
func TestEverySamplerTypeDraws(t *testing.T) {
	t.Parallel()
	for _, name := range config.SamplerTypes() {
		require.Contains(t, samplers, name)
	}
	require.Len(t, samplers, len(config.SamplerTypes()))
}

func TestConditionalValuesOfMixedTypes(t *testing.T) {
	t.Parallel()
	f, err := drawConfig(t, `columns:
  - {name: a, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}}
  - {name: b, column_type: sampler, sampler_type: category, params: {values: [1, 2]}, conditional_params: {"a == 1": {values: [p, q]}}}`, 1, 0, 200)
	require.NoError(t, err)
	for i, v := range f.Column("b").Strings {
		if f.Column("a").Ints[i] == 1 {
			require.Contains(t, []string{"p", "q"}, v)
		} else {
			require.Contains(t, []string{"1", "2"}, v)
		}
	}
}
