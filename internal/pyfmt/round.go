package pyfmt

import (
	"math"
	"strconv"
)

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// Round is Python's round(x, n) for a float: the decimal rounding of the exact binary value,
// ties to even, read back as the nearest float.
func Round(x float64, n int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	if n < 0 {
		if n < -308 {
			return math.Copysign(0, x)
		}
		p := math.Pow(10, float64(-n))
		return math.RoundToEven(x/p) * p
	}
	if n < len(pow10) {
		// Fast path: when x·10ⁿ is small and clearly not near a tie, the product's rounding
		// error cannot change the nearest integer, and r/10ⁿ (both exact) is correctly rounded.
		p := pow10[n]
		y := x * p
		if a := math.Abs(y); a < 1e8 {
			if frac := a - math.Floor(a); math.Abs(frac-0.5) > 1e-6 {
				return math.Round(y) / p
			}
		}
	}
	if n > 400 { // more digits than any float's exact expansion: nothing to round
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', n, 64), 64)
	if err != nil {
		return x
	}
	return r
}
