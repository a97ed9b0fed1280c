package generators

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScipyDistributions checks each distribution's draws against the mean and variance of
// scipy's parametrization (loc and scale included), and the support of the discrete ones.
func TestScipyDistributions(t *testing.T) {
	t.Parallel()
	s := math.Sqrt
	for _, tc := range []struct {
		params     string
		mean, vari float64
		minimum    float64 // lowest value allowed
		discrete   bool
		maximum    float64 // highest value allowed (0: none)
	}{
		{"{dist_name: norm, dist_params: {loc: 3, scale: 2}}", 3, 4, math.Inf(-1), false, 0},
		{"{dist_name: lognorm, dist_params: {s: 0.5, scale: 2}}", 2 * math.Exp(0.125), 4 * (math.Exp(0.25) - 1) * math.Exp(0.25), 0, false, 0},
		{"{dist_name: expon, dist_params: {loc: 1, scale: 3}}", 4, 9, 1, false, 0},
		{"{dist_name: gamma, dist_params: {a: 2, scale: 3}}", 6, 18, 0, false, 0},
		{"{dist_name: beta, dist_params: {a: 2, b: 5}}", 2.0 / 7, 10.0 / (49 * 8), 0, false, 1},
		{"{dist_name: t, dist_params: {df: 5}}", 0, 5.0 / 3, math.Inf(-1), false, 0},
		{"{dist_name: chi2, dist_params: {df: 4}}", 4, 8, 0, false, 0},
		{"{dist_name: uniform, dist_params: {loc: 2, scale: 3}}", 3.5, 0.75, 2, false, 5},
		{"{dist_name: randint, dist_params: {low: 1, high: 7}}", 3.5, 35.0 / 12, 1, true, 6},
		{"{dist_name: binom, dist_params: {n: 20, p: 0.3}}", 6, 4.2, 0, true, 20},
		{"{dist_name: poisson, dist_params: {mu: 4, loc: 10}}", 14, 4, 10, true, 0},
		{"{dist_name: geom, dist_params: {p: 0.25}}", 4, 12, 1, true, 0},
		{"{dist_name: nbinom, dist_params: {n: 3, p: 0.4}}", 4.5, 11.25, 0, true, 0},
	} {
		t.Run(tc.params, func(t *testing.T) {
			t.Parallel()
			const n = 40_000
			f, err := drawConfig(t, fmt.Sprintf("columns: [{name: x, column_type: sampler, sampler_type: scipy, params: %s}]", tc.params), 1, 0, n)
			require.NoError(t, err)
			c := f.Column("x")
			xs := c.Floats
			if tc.discrete {
				require.Nil(t, c.Floats, "discrete draws are ints")
				for _, v := range c.Ints {
					xs = append(xs, float64(v))
				}
			}
			var sum, sq float64
			for _, x := range xs {
				require.GreaterOrEqual(t, x, tc.minimum)
				if tc.maximum != 0 {
					require.LessOrEqual(t, x, tc.maximum)
				}
				sum += x
			}
			mean := sum / n
			for _, x := range xs {
				sq += (x - mean) * (x - mean)
			}
			vari := sq / (n - 1)
			require.InDelta(t, tc.mean, mean, 5*s(tc.vari/n), "mean")
			require.InDelta(t, tc.vari, vari, 0.1*tc.vari, "variance")
		})
	}
}

func TestBernoulliMixture(t *testing.T) {
	t.Parallel()
	const n = 20_000
	f, err := drawConfig(t, `columns:
  - {name: spend, column_type: sampler, sampler_type: bernoulli_mixture, params: {p: 0.3, dist_name: expon, dist_params: {loc: 10, scale: 5}}}
  - {name: visits, column_type: sampler, sampler_type: bernoulli_mixture, params: {p: 0.5, dist_name: poisson, dist_params: {mu: 3, loc: 1}}}`, 2, 0, n)
	require.NoError(t, err)
	zeros, sum := 0, 0.0
	for _, x := range f.Column("spend").Floats {
		if x == 0 {
			zeros++
			continue
		}
		require.GreaterOrEqual(t, x, 10.0)
		sum += x
	}
	require.InDelta(t, 0.7, float64(zeros)/n, 0.02, "p is the share drawn from the distribution")
	require.InDelta(t, 15, sum/float64(n-zeros), 0.3)
	zeros = 0
	for _, v := range f.Column("visits").Ints {
		if v == 0 {
			zeros++
		} else {
			require.GreaterOrEqual(t, v, int64(1))
		}
	}
	require.InDelta(t, 0.5, float64(zeros)/n, 0.02)
}

func TestScipyDecimalPlaces(t *testing.T) {
	t.Parallel()
	f, err := drawConfig(t, `columns: [{name: x, column_type: sampler, sampler_type: scipy, params: {dist_name: norm, dist_params: {}, decimal_places: 2}}]`, 1, 0, 200)
	require.NoError(t, err)
	for _, x := range f.Column("x").Floats {
		require.Equal(t, math.Round(x*100)/100, x)
	}
}
