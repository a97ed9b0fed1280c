package worker

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShares(t *testing.T) {
	t.Parallel()
	busy := func(demand int) claimant { return claimant{demand: demand, busy: true} }
	tests := []struct {
		name     string
		capacity int
		cs       []claimant
		want     []int
	}{
		{"alone: the whole cap", 32, []claimant{busy(100)}, []int{32}},
		{"alone and idle: the whole cap as headroom", 32, []claimant{busy(0)}, []int{32}},
		{"even demand: even split", 32, []claimant{busy(50), busy(50)}, []int{16, 16}},
		{"the rank breaks ties", 5, []claimant{busy(9), busy(9)}, []int{3, 2}},
		{"a small demand is met, the rest goes where requests wait", 32, []claimant{busy(5), busy(100)}, []int{5, 27}},
		{"a finished worker gives its seats to the busy one", 32, []claimant{{}, busy(40)}, []int{0, 32}},
		{"leftover is headroom for the busy", 32, []claimant{busy(3), busy(5), {demand: 0}}, []int{16, 16, 0}},
		{"max-min fair over three", 30, []claimant{busy(4), busy(20), busy(20)}, []int{4, 13, 13}},
		{"a worker that only has requests left (groups ended) keeps them seated", 8, []claimant{{demand: 2}, busy(20)}, []int{2, 6}},
		{"more busy workers than seats: one each, past the cap", 2, []claimant{busy(5), busy(5), busy(5)}, []int{1, 1, 1}},
		{"no claimants", 8, nil, []int{}},
		{"no capacity", 0, []claimant{busy(3)}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := shares(tt.capacity, tt.cs)
			require.Equal(t, tt.want, got)
		})
	}
}

// Whatever the demands, no claimant gets less than min(its demand, an even split), a busy one
// gets a seat, and the shares pass the cap only by the seats busy claimants must have.
func FuzzShares(f *testing.F) {
	f.Add(32, []byte{50, 50, 1, 0})
	f.Add(5, []byte{9, 9, 9})
	f.Fuzz(func(t *testing.T, capacity int, demands []byte) {
		capacity = capacity % 1024
		if capacity < 0 {
			capacity = -capacity
		}
		cs := make([]claimant, len(demands))
		nbusy := 0
		for i, d := range demands {
			cs[i] = claimant{demand: int(d >> 1), busy: d&1 == 1}
			if cs[i].busy {
				nbusy++
			}
		}
		got := shares(capacity, cs)
		sum := 0
		for i, n := range got {
			sum += n
			if len(cs) > 0 && capacity/len(cs) > 0 {
				require.GreaterOrEqual(t, n, min(cs[i].demand, capacity/len(cs)), "claimant %d", i)
			}
			if cs[i].busy {
				require.Positive(t, n, "busy claimant %d", i)
			}
		}
		if nbusy == 0 {
			require.LessOrEqual(t, sum, capacity)
		} else {
			require.LessOrEqual(t, sum, capacity+nbusy)
		}
	})
}
