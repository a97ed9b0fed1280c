package generators

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/rowforge/rowforge/pkg/config"
)

// distDrawer draws one value of a scipy.stats distribution, with scipy's parametrization
// (loc and scale shift and stretch the standard form) over gonum's distuv.
type distDrawer func() float64

// newDistDrawer returns the drawer of d, drawing from r. d has passed config's checks.
func newDistDrawer(d config.Dist, r *rand.Rand) (distDrawer, error) {
	loc, scale := d.Param("loc"), d.Param("scale")
	affine := func(x distuv.Rander) distDrawer {
		return func() float64 { return loc + scale*x.Rand() }
	}
	shift := func(x distuv.Rander) distDrawer {
		return func() float64 { return loc + x.Rand() }
	}
	switch d.Name {
	case "norm":
		return affine(distuv.Normal{Mu: 0, Sigma: 1, Src: r}), nil
	case "lognorm": // scipy: loc + scale·exp(s·Z)
		return affine(distuv.LogNormal{Mu: 0, Sigma: d.Param("s"), Src: r}), nil
	case "expon":
		return affine(distuv.Exponential{Rate: 1, Src: r}), nil
	case "gamma":
		return affine(distuv.Gamma{Alpha: d.Param("a"), Beta: 1, Src: r}), nil
	case "beta":
		return affine(distuv.Beta{Alpha: d.Param("a"), Beta: d.Param("b"), Src: r}), nil
	case "t":
		return affine(distuv.StudentsT{Mu: 0, Sigma: 1, Nu: d.Param("df"), Src: r}), nil
	case "chi2":
		return affine(distuv.ChiSquared{K: d.Param("df"), Src: r}), nil
	case "uniform":
		return affine(distuv.Uniform{Min: 0, Max: 1, Src: r}), nil
	case "randint": // integers in [low, high)
		low, high := int64(d.Param("low")), int64(d.Param("high"))
		return func() float64 { return loc + float64(low+r.Int64N(high-low)) }, nil
	case "binom":
		return shift(distuv.Binomial{N: d.Param("n"), P: d.Param("p"), Src: r}), nil
	case "poisson":
		return shift(distuv.Poisson{Lambda: d.Param("mu"), Src: r}), nil
	case "geom": // trials up to and including the first success: support 1, 2, …
		if p := d.Param("p"); p == 1 {
			return func() float64 { return loc + 1 }, nil
		}
		e := distuv.Exponential{Rate: -math.Log1p(-d.Param("p")), Src: r}
		return func() float64 { return loc + math.Floor(e.Rand()) + 1 }, nil
	case "nbinom": // failures before the n-th success: Poisson(λ) with λ ~ Gamma(n, (1-p)/p)
		n, p := d.Param("n"), d.Param("p")
		if p == 1 {
			return func() float64 { return loc }, nil
		}
		g := distuv.Gamma{Alpha: n, Beta: p / (1 - p), Src: r}
		return func() float64 {
			return loc + distuv.Poisson{Lambda: g.Rand(), Src: r}.Rand()
		}, nil
	}
	return nil, fmt.Errorf("unsupported dist_name %q", d.Name)
}

// drawDist draws n values of d: int64s for a discrete distribution, else floats.
func drawDist(d config.Dist, r *rand.Rand, n int) (sampled, error) {
	draw, err := newDistDrawer(d, r)
	if err != nil {
		return sampled{}, err
	}
	if d.Discrete() {
		out := make([]int64, n)
		for i := range out {
			x := draw()
			if x != x || math.Abs(x) >= 1<<63 {
				return sampled{}, fmt.Errorf("%s drew %v, which is not an int64", d.Name, x)
			}
			out[i] = int64(x)
		}
		return sampled{kind: kindInt, ints: out}, nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = draw()
	}
	return sampled{kind: kindFloat, floats: out}, nil
}
