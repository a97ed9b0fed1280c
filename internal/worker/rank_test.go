package worker

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/wire"
)

// The run's last groups share a rank: enough of them for their rows to fill the widest capped
// endpoint's seats, and one more; the others keep their index.
func TestRunsLastGroupsShareARank(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		records, buffer, cap int
		want                 []int // rank of each group
	}{
		{name: "300 rows of 50 at cap 32: the last two", records: 300, buffer: 50, cap: 32, want: []int{0, 1, 2, 3, 4, 4}},
		{name: "300 rows of 50 at cap 256: all of them", records: 300, buffer: 50, cap: 256, want: []int{0, 0, 0, 0, 0, 0}},
		{name: "10,000 rows of 1,000 at cap 256: the last two", records: 10_000, buffer: 1_000, cap: 256, want: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 8}},
		{name: "120 rows of 50 at cap 50: the last two", records: 120, buffer: 50, cap: 50, want: []int{0, 1, 1}},
		{name: "no capped endpoint: only the last group", records: 150, buffer: 50, want: []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var caps []capped
			if tc.cap > 0 {
				caps = []capped{{name: "small", capacity: 4}, {name: "wide", capacity: tc.cap}}
			}
			e := &runEntry{lastRank: lastRank(&wire.RunRecord{NumRecords: tc.records, BufferSize: tc.buffer}, caps)}
			var got []int
			for g := range tc.want {
				got = append(got, e.rank(g))
			}
			require.Equal(t, tc.want, got)
		})
	}
}
