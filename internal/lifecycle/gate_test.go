package lifecycle

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorGate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		groups  [][2]int // ok, failed
		tripped []bool
	}{
		{"window not full", [][2]int{{2, 7}}, []bool{false}},
		{"full at half", [][2]int{{5, 5}}, []bool{true}},
		{"under the rate", [][2]int{{6, 4}, {6, 4}}, []bool{false, false}},
		{"failures slide in", [][2]int{{10, 0}, {0, 5}}, []bool{false, true}},
		{"full at half on the next group", [][2]int{{0, 5}, {20, 0}}, []bool{false, true}},
		{"failures slide out", [][2]int{{0, 4}, {20, 0}, {0, 3}}, []bool{false, false, false}},
		{"big group at its own rate", [][2]int{{4000, 6000}}, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newErrorGate(0.5, 10)
			for i, grp := range tc.groups {
				require.Equal(t, tc.tripped[i], g.record(grp[0], grp[1]), "group %d", i)
			}
		})
	}
}
