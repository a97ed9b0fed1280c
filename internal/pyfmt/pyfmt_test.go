package pyfmt

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFloatMatchesPython(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{
		3: "3.0", 12.5: "12.5", 0.1: "0.1", 1e16: "1e+16", 1.5e-5: "1.5e-05", 1e-4: "0.0001",
		-0.0: "0.0", 123456789012345.0: "123456789012345.0", math.Inf(-1): "-inf",
	} {
		require.Equal(t, want, Float(in), "%v", in)
	}
	require.Equal(t, "-0.0", Float(math.Copysign(0, -1)))
	require.Equal(t, "nan", Float(math.NaN()))
}

func TestStr(t *testing.T) {
	t.Parallel()
	require.Equal(t, "True", Str(true))
	require.Equal(t, "None", Str(nil))
	require.Equal(t, "4", Str(int64(4)))
	require.Equal(t, "2.0", Str(2.0))
}
