package jinja

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundIntHalfEven(t *testing.T) {
	t.Parallel()
	for _, tc := range [][3]int64{{1250, -2, 1200}, {1350, -2, 1400}, {-1250, -2, -1200}, {-1350, -2, -1400}, {1251, -2, 1300}, {7, 0, 7}, {7, 3, 7}, {5, -1, 0}, {15, -1, 20}, {-5, -1, 0}, {99, -19, 0}} {
		require.Equal(t, tc[2], roundIntHalfEven(tc[0], int(tc[1])), "round(%d, %d)", tc[0], tc[1])
	}
}
