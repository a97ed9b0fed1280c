package progress_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

func report(worker, session string, seq uint64, cells map[string]wire.CellCounts, models map[string]wire.RequestCounts) *wire.ProgressReport {
	return &wire.ProgressReport{Run: "r1", Worker: worker, Session: session, Seq: seq, Columns: cells, Models: models}
}

// The collector keeps the latest report of each worker session and sums them.
func TestCollectorMerge(t *testing.T) {
	t.Parallel()
	ok := func(n int64) wire.CellCounts { return wire.CellCounts{OK: n} }
	tests := []struct {
		name    string
		reports []*wire.ProgressReport
		kept    []bool // Merge's answer, per report
		columns map[string]wire.CellCounts
		models  map[string]wire.RequestCounts
		workers int
	}{
		{
			name:    "nothing",
			columns: map[string]wire.CellCounts{"a": {}, "b": {}},
		},
		{
			name: "one worker, reports in order: the last wins",
			reports: []*wire.ProgressReport{
				report("w1", "s", 1, map[string]wire.CellCounts{"a": ok(2)}, nil),
				report("w1", "s", 2, map[string]wire.CellCounts{"a": ok(5), "b": {Failed: 1}}, nil),
			},
			kept:    []bool{true, true},
			columns: map[string]wire.CellCounts{"a": ok(5), "b": {Failed: 1}},
			workers: 1,
		},
		{
			name: "an older or repeated report changes nothing",
			reports: []*wire.ProgressReport{
				report("w1", "s", 3, map[string]wire.CellCounts{"a": ok(9)}, nil),
				report("w1", "s", 2, map[string]wire.CellCounts{"a": ok(4)}, nil),
				report("w1", "s", 3, map[string]wire.CellCounts{"a": ok(1)}, nil),
			},
			kept:    []bool{true, false, false},
			columns: map[string]wire.CellCounts{"a": ok(9), "b": {}},
			workers: 1,
		},
		{
			name: "workers add up",
			reports: []*wire.ProgressReport{
				report("w1", "s", 1, map[string]wire.CellCounts{"a": ok(3)}, map[string]wire.RequestCounts{"m": {Sent: 4, OK: 3, InFlight: 1}}),
				report("w2", "s", 7, map[string]wire.CellCounts{"a": {OK: 1, Skipped: 2}, "b": {Dropped: 1}},
					map[string]wire.RequestCounts{"m": {Sent: 3, OK: 1, Failed: 1, InFlight: 1}, "n": {Sent: 1, InFlight: 1}}),
			},
			kept:    []bool{true, true},
			columns: map[string]wire.CellCounts{"a": {OK: 4, Skipped: 2}, "b": {Dropped: 1}},
			models:  map[string]wire.RequestCounts{"m": {Sent: 7, OK: 4, Failed: 1, InFlight: 2}, "n": {Sent: 1, InFlight: 1}},
			workers: 2,
		},
		{
			name: "a restarted worker's new session counts beside its old one",
			reports: []*wire.ProgressReport{
				report("w1", "old", 9, map[string]wire.CellCounts{"a": ok(10)}, nil),
				report("w1", "new", 1, map[string]wire.CellCounts{"a": ok(2)}, nil),
			},
			kept:    []bool{true, true},
			columns: map[string]wire.CellCounts{"a": ok(12), "b": {}},
			workers: 2,
		},
		{
			name: "another run's report is not this run's",
			reports: []*wire.ProgressReport{
				{Run: "r2", Worker: "w1", Session: "s", Seq: 1, Columns: map[string]wire.CellCounts{"a": ok(1)}},
				nil,
			},
			kept:    []bool{false, false},
			columns: map[string]wire.CellCounts{"a": {}, "b": {}},
		},
		{
			name: "a column only reports name comes after the expected ones",
			reports: []*wire.ProgressReport{
				report("w1", "s", 1, map[string]wire.CellCounts{"z": ok(1), "c": ok(2)}, nil),
			},
			kept:    []bool{true},
			columns: map[string]wire.CellCounts{"a": {}, "b": {}, "c": ok(2), "z": ok(1)},
			workers: 1,
		},
		{
			name: "a count taken back below zero shows as zero",
			reports: []*wire.ProgressReport{
				report("w1", "s", 1, map[string]wire.CellCounts{"a": ok(3)}, nil),
				report("w2", "s", 1, map[string]wire.CellCounts{"a": ok(-5)}, nil), // not from the decoder, which refuses it
			},
			kept:    []bool{true, true},
			columns: map[string]wire.CellCounts{"a": {}, "b": {}},
			workers: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := progress.NewCollector(nil, wire.DefaultLayout(), "r1", progress.CollectorOptions{Columns: []string{"a", "b"}, Rows: 10})
			for i, r := range tt.reports {
				require.Equal(t, tt.kept[i], c.Merge(r), "report %d", i)
			}
			s := c.Snapshot()
			require.Equal(t, tt.workers, s.Workers)
			got := map[string]wire.CellCounts{}
			var order []string
			for _, col := range s.Columns {
				require.Equal(t, int64(10), col.Total, col.Name)
				got[col.Name] = col.CellCounts
				order = append(order, col.Name)
			}
			require.Equal(t, tt.columns, got)
			require.Equal(t, []string{"a", "b"}, order[:2], "the expected columns first, in their order")
			require.IsIncreasing(t, order[2:], "then the others, by name")
			models := map[string]wire.RequestCounts{}
			for _, m := range s.Models {
				models[m.Name] = m.RequestCounts
			}
			if tt.models == nil {
				tt.models = map[string]wire.RequestCounts{}
			}
			require.Equal(t, tt.models, models)
		})
	}
}

// Without an expected row count, a column's total is the run's target, once the controller
// has said it.
func TestCollectorTotalFromRun(t *testing.T) {
	t.Parallel()
	c := progress.NewCollector(nil, wire.DefaultLayout(), "r1", progress.CollectorOptions{})
	require.True(t, c.Merge(report("w", "s", 1, map[string]wire.CellCounts{"a": {OK: 1}}, nil)))
	require.Equal(t, int64(0), c.Snapshot().Columns[0].Total, "unknown yet")
	c.SetRun(progress.RunProgress{TargetRows: 30, Groups: 3, GroupsDone: 1, Rows: 10})
	s := c.Snapshot()
	require.Equal(t, int64(30), s.Columns[0].Total)
	require.Equal(t, progress.RunProgress{TargetRows: 30, Groups: 3, GroupsDone: 1, Rows: 10}, s.Run)
}

// Reports travel over a real server: the collector subscribes to its run's subject only, and
// a malformed report is ignored.
func TestCollectorOverNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	layout := wire.DefaultLayout()
	c := progress.NewCollector(nc, layout, "r1", progress.CollectorOptions{Columns: []string{"a"}, Rows: 5})
	require.NoError(t, c.Start())
	defer c.Stop()
	require.NoError(t, nc.Flush()) // the subscription is on the server

	pub := natstest.Connect(t, srv)
	for _, b := range [][]byte{[]byte(`{"run":"r1"`), mustEncode(t, &wire.ProgressReport{Run: "r2", Worker: "w", Session: "s", Seq: 1,
		Columns: map[string]wire.CellCounts{"a": {OK: 5}}})} {
		require.NoError(t, pub.Publish(layout.ProgressSubject("r1"), b))
	}
	require.NoError(t, pub.Publish(layout.ProgressSubject("r2"), mustEncode(t, report("w", "s", 1, map[string]wire.CellCounts{"a": {OK: 4}}, nil))))
	require.NoError(t, pub.Publish(layout.ProgressSubject("r1"), mustEncode(t, report("w", "s", 1, map[string]wire.CellCounts{"a": {OK: 2}}, nil))))
	require.Eventually(t, func() bool { return c.Snapshot().Columns[0].OK > 0 }, waitFor, tick)
	require.Equal(t, wire.CellCounts{OK: 2}, c.Snapshot().Columns[0].CellCounts, "only r1's well-formed report")

	c.Stop()
	c.Stop() // idempotent
	require.NoError(t, c.Start(), "a start after the stop does nothing")
}

func mustEncode(t *testing.T, r *wire.ProgressReport) []byte {
	t.Helper()
	b, err := wire.EncodeProgress(r)
	require.NoError(t, err)
	return b
}
