package generators

import (
	"math"
	"math/rand/v2"
)

// poissonGen draws from Poisson(mean), mean ≥ 0. Below 30 it uses Knuth's multiplication
// method (exact, O(mean) uniforms per draw); from 30 on, Hörmann's PTRS transformed rejection
// with squeeze ("The transformed rejection method for generating Poisson random variables",
// 1993), the exact method numpy uses for large means. Constants are computed once per column.
type poissonGen struct {
	mean, limit                      float64 // Knuth: limit = e^-mean
	slam, loglam, a, b, invalpha, vr float64 // PTRS
}

func newPoisson(mean float64) *poissonGen {
	g := &poissonGen{mean: mean, limit: math.Exp(-mean)}
	if mean >= 30 {
		g.slam = math.Sqrt(mean)
		g.loglam = math.Log(mean)
		g.b = 0.931 + 2.53*g.slam
		g.a = -0.059 + 0.02483*g.b
		g.invalpha = 1.1239 + 1.1328/(g.b-3.4)
		g.vr = 0.9277 - 3.6224/(g.b-2)
	}
	return g
}

func (g *poissonGen) draw(r *rand.Rand) int64 {
	if g.mean <= 0 {
		return 0
	}
	if g.mean < 30 {
		var k int64
		p := r.Float64()
		for p > g.limit {
			k++
			p *= r.Float64()
		}
		return k
	}
	for {
		u, v, us := trsUniforms(r)
		k := math.Floor((2*g.a/us+g.b)*u + g.mean + 0.43)
		if us >= 0.07 && v <= g.vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(g.invalpha)-math.Log(g.a/(us*us)+g.b) <= -g.mean+k*g.loglam-lg {
			return int64(k)
		}
	}
}

// binomialGen draws from Binomial(n, p), drawing Binomial(n, 1-p) and reflecting when p > 0.5.
// For n·p < 10 it inverts the CDF by sequential search (O(np) per draw); above, Hörmann's BTRS
// transformed rejection ("The generation of binomial random variates", 1993). Both are exact.
type binomialGen struct {
	n       int64
	p       float64 // ≤ 0.5 after reflection
	reflect bool
	fixed   int64 // result when p is 0 or 1 or n is 0; -1 otherwise
	// inversion
	q0, a, s float64
	// BTRS
	btrs                                bool
	nf, ba, bb, c, vr, alpha, lpq, m, h float64
}

func newBinomial(n int64, p float64) *binomialGen {
	g := &binomialGen{n: n, fixed: -1}
	switch {
	case n <= 0 || p <= 0:
		g.fixed = 0
		return g
	case p >= 1:
		g.fixed = n
		return g
	case p > 0.5:
		g.reflect, p = true, 1-p
	}
	g.p = p
	q := 1 - p
	g.nf = float64(n)
	if g.nf*p < 10 {
		g.s = p / q
		g.a = (g.nf + 1) * g.s
		g.q0 = math.Exp(g.nf * math.Log1p(-p)) // qⁿ, accurate for tiny p
		return g
	}
	g.btrs = true
	spq := math.Sqrt(g.nf * p * q)
	g.bb = 1.15 + 2.53*spq
	g.ba = -0.0873 + 0.0248*g.bb + 0.01*p
	g.c = g.nf*p + 0.5
	g.vr = 0.92 - 4.2/g.bb
	g.alpha = (2.83 + 5.1/g.bb) * spq
	g.lpq = math.Log(p / q)
	g.m = math.Floor((g.nf + 1) * p)
	lgm, _ := math.Lgamma(g.m + 1)
	lgnm, _ := math.Lgamma(g.nf - g.m + 1)
	g.h = lgm + lgnm
	return g
}

func (g *binomialGen) draw(r *rand.Rand) int64 {
	if g.fixed >= 0 {
		return g.fixed
	}
	var k int64
	if g.btrs {
		k = g.drawBTRS(r)
	} else {
		k = g.drawInversion(r)
	}
	if g.reflect {
		return g.n - k
	}
	return k
}

func (g *binomialGen) drawInversion(r *rand.Rand) int64 {
	for {
		pmf := g.q0
		u := r.Float64()
		var x int64
		for u > pmf {
			u -= pmf
			x++
			if x > g.n { // lost to rounding in the tail: draw again
				break
			}
			pmf *= g.a/float64(x) - g.s
		}
		if x <= g.n {
			return x
		}
	}
}

// trsUniforms draws the two uniforms of one round of Hörmann's transformed rejection, which
// PTRS (Poisson) and BTRS (binomial) share: u centred on 0, v, and us = 0.5-|u|, redrawn
// while us is 0 since the hat divides by it. One helper keeps both samplers drawing the
// random stream alike, so a seed gives the values it always gave.
func trsUniforms(r *rand.Rand) (u, v, us float64) {
	for {
		u = r.Float64() - 0.5
		v = r.Float64()
		us = 0.5 - math.Abs(u)
		if us != 0 {
			return u, v, us
		}
	}
}

func (g *binomialGen) drawBTRS(r *rand.Rand) int64 {
	for {
		u, v, us := trsUniforms(r)
		k := math.Floor((2*g.ba/us+g.bb)*u + g.c)
		if k < 0 || k > g.nf {
			continue
		}
		if us >= 0.07 && v <= g.vr {
			return int64(k)
		}
		v = math.Log(v * g.alpha / (g.ba/(us*us) + g.bb))
		lgk, _ := math.Lgamma(k + 1)
		lgnk, _ := math.Lgamma(g.nf - k + 1)
		if v <= g.h-lgk-lgnk+(k-g.m)*g.lpq {
			return int64(k)
		}
	}
}
