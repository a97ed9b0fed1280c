package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Dist is a scipy.stats distribution by name with its keyword parameters, as the scipy and
// bernoulli_mixture samplers name them (`dist_name`, `dist_params`). Params holds every
// parameter, defaults (loc 0, scale 1) filled in.
type Dist struct {
	Name   string
	Params map[string]float64
}

// distSpec describes a distribution rowforge draws: scipy's keyword names for it, which are
// required, and its domain.
type distSpec struct {
	required []string
	optional map[string]float64 // with scipy's defaults
	discrete bool
	integers []string // params that must hold integers
	check    func(p map[string]float64, e *paramErrs)
}

var (
	continuous = map[string]float64{"loc": 0, "scale": 1}
	discrete   = map[string]float64{"loc": 0}
)

// distributions are the scipy.stats distributions Data Designer users reach for. Their
// parameters and domains follow scipy's; each is drawn with gonum's stat/distuv.
var distributions = map[string]distSpec{
	"norm":    {optional: continuous, check: positive("scale")},
	"lognorm": {required: []string{"s"}, optional: continuous, check: positive("s", "scale")},
	"expon":   {optional: continuous, check: positive("scale")},
	"gamma":   {required: []string{"a"}, optional: continuous, check: positive("a", "scale")},
	"beta":    {required: []string{"a", "b"}, optional: continuous, check: positive("a", "b", "scale")},
	"t":       {required: []string{"df"}, optional: continuous, check: positive("df", "scale")},
	"chi2":    {required: []string{"df"}, optional: continuous, check: positive("df", "scale")},
	"uniform": {optional: continuous, check: positive("scale")},
	"randint": {required: []string{"low", "high"}, optional: discrete, discrete: true, integers: []string{"low", "high", "loc"},
		check: func(p map[string]float64, e *paramErrs) {
			if !(p["low"] < p["high"]) {
				e.add("dist_params.high", "must be greater than low (low %s, high %s)", pyfmt.Float(p["low"]), pyfmt.Float(p["high"]))
			}
		}},
	"binom": {required: []string{"n", "p"}, optional: discrete, discrete: true, integers: []string{"n", "loc"},
		check: func(p map[string]float64, e *paramErrs) {
			nonNegative(p, e, "n")
			between01(p, e, "p", false)
		}},
	"poisson": {required: []string{"mu"}, optional: discrete, discrete: true, integers: []string{"loc"},
		check: func(p map[string]float64, e *paramErrs) { nonNegative(p, e, "mu") }},
	"geom": {required: []string{"p"}, optional: discrete, discrete: true, integers: []string{"loc"},
		check: func(p map[string]float64, e *paramErrs) { between01(p, e, "p", true) }},
	"nbinom": {required: []string{"n", "p"}, optional: discrete, discrete: true, integers: []string{"loc"},
		check: func(p map[string]float64, e *paramErrs) {
			positive("n")(p, e)
			between01(p, e, "p", true)
		}},
}

// DistNames lists the distributions rowforge draws, sorted.
func DistNames() []string {
	return sortedKeys(distributions)
}

// Discrete reports whether the distribution draws integers.
func (d Dist) Discrete() bool { return distributions[d.Name].discrete }

// output is the type of the distribution's draws.
func (d Dist) output() frame.Type {
	if d.Discrete() {
		return frame.Int
	}
	return frame.Float
}

func positive(keys ...string) func(map[string]float64, *paramErrs) {
	return func(p map[string]float64, e *paramErrs) {
		for _, k := range keys {
			if !(p[k] > 0) {
				e.add("dist_params."+k, "must be greater than 0, got %s", pyfmt.Float(p[k]))
			}
		}
	}
}

func nonNegative(p map[string]float64, e *paramErrs, k string) {
	if !(p[k] >= 0) {
		e.add("dist_params."+k, "must be at least 0, got %s", pyfmt.Float(p[k]))
	}
}

// between01 checks a probability: in [0, 1], or (0, 1] when zero is excluded (a geometric
// or negative binomial never ends with p = 0).
func between01(p map[string]float64, e *paramErrs, k string, openZero bool) {
	x := p[k]
	switch {
	case openZero && !(x > 0 && x <= 1):
		e.add("dist_params."+k, "must be greater than 0 and at most 1, got %s", pyfmt.Float(x))
	case !openZero && !(x >= 0 && x <= 1):
		e.add("dist_params."+k, "must be between 0 and 1, got %s", pyfmt.Float(x))
	}
}

// check reports what is wrong with the distribution: an unknown name, missing, unknown or
// non-integer parameters, values outside the domain.
func (d Dist) check(e *paramErrs) {
	spec, ok := distributions[d.Name]
	if !ok {
		names := DistNames()
		msg := fmt.Sprintf("dist_name %q is not one rowforge draws (want one of %s)", d.Name, strings.Join(names, ", "))
		if s := closest(d.Name, names); s != "" {
			msg = fmt.Sprintf("unknown dist_name %q (did you mean %q?)", d.Name, s)
		}
		e.add("dist_name", "%s", msg)
		return
	}
	before := len(*e)
	var known []string
	for _, k := range spec.required {
		known = append(known, k)
		if _, ok := d.Params[k]; !ok {
			e.add("dist_params."+k, "required for dist_name %s", d.Name)
		}
	}
	for k := range spec.optional {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, k := range sortedKeys(d.Params) {
		x := d.Params[k]
		switch {
		case !slices.Contains(known, k):
			e.add("dist_params."+k, "unknown parameter %q of %s (want %s)", k, d.Name, strings.Join(known, ", "))
		case math.IsNaN(x) || math.IsInf(x, 0):
			e.add("dist_params."+k, "must be a finite number, got %s", pyfmt.Float(x))
		case slices.Contains(spec.integers, k) && (x != math.Trunc(x) || math.Abs(x) > 1<<53):
			e.add("dist_params."+k, "want an integer, got %s", pyfmt.Float(x))
		}
	}
	if len(*e) == before && spec.check != nil {
		spec.check(d.withDefaults(), e)
	}
}

// withDefaults returns the params with scipy's defaults for those not given.
func (d Dist) withDefaults() map[string]float64 {
	out := make(map[string]float64, len(d.Params)+2)
	for k, v := range distributions[d.Name].optional {
		out[k] = v
	}
	for k, v := range d.Params {
		out[k] = v
	}
	return out
}

// Param returns a parameter, or scipy's default for it.
func (d Dist) Param(key string) float64 {
	if v, ok := d.Params[key]; ok {
		return v
	}
	return distributions[d.Name].optional[key]
}

// decodeDist reads dist_name and dist_params.
func decodeDist(f *fields) Dist {
	var d Dist
	d.Name, _ = f.str("dist_name", true)
	m, ok := f.mapping("dist_params", true, fmt.Sprintf("a mapping of %s's parameters", d.Name))
	if !ok {
		return d
	}
	d.Params = make(map[string]float64, len(m))
	for _, k := range sortedKeys(m) {
		x, isNum := number(m[k])
		if !isNum {
			f.errorf("dist_params."+k, "want a number, got %s", describe(m[k]))
			continue
		}
		d.Params[k] = x
	}
	return d
}
