package e2e

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// requireIdentical requires two datasets with the same batches and the same rows, value by value.
func requireIdentical(t *testing.T, a, b dataset, rows int) {
	t.Helper()
	require.Equal(t, rows, a.rows())
	require.Equal(t, b.Batches, a.Batches)
	for i := range a.Batches {
		ta, tb := a.Tables[i], b.Tables[i]
		require.Equal(t, tb.Columns, ta.Columns, "%s: columns", a.Batches[i])
		require.Equal(t, len(tb.Rows), len(ta.Rows), "%s: rows", a.Batches[i])
		for r := range ta.Rows {
			require.Equal(t, tb.Rows[r], ta.Rows[r], "%s row %d", a.Batches[i], r)
		}
	}
	ids := map[any]bool{}
	for _, tb := range a.Tables {
		for _, id := range tb.column(t, "review_id") {
			require.False(t, ids[id], "review_id %v twice", id)
			ids[id] = true
		}
	}
}

// faultRun runs 60,000 rows on two worker processes, applies fault to the first worker once
// the run is under way, and checks the run completes with exactly the rows of a local run with
// the same seed.
func faultRun(t *testing.T, fault func(w *testbin.Process)) {
	t.Helper()
	const n, buffer, seed = 60000, 1000, 9
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2)
	args := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(buffer),
		"--seed", fmt.Sprint(seed), "--name", "fleet"}
	ctrl, _ := startRun(t, srv.URL, append(args, "--nats-url", srv.URL)...)
	fault(ws[0])
	require.NoError(t, ctrl.Wait(), ctrl.Output.String())
	require.False(t, ws[1].Exited(), ws[1].Output.String())

	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "fleet")), readDataset(t, filepath.Join(outLocal, "fleet")), n)
	stopGracefully(t, ws[1], sinkd)
}

// SIGTERM to one of two workers mid-run: it hands its groups back and exits 0, and the run
// completes on the other.
func TestSIGTERMOneOfTwoWorkers(t *testing.T) {
	t.Parallel()
	faultRun(t, func(w *testbin.Process) {
		require.NoError(t, w.Signal(syscall.SIGTERM))
		require.NoError(t, w.Wait(), "a worker stopped with SIGTERM exits 0:\n%s", w.Output.String())
	})
}

// kill -9 of a worker in the middle of the run: the groups it held are redelivered once their
// AckWait runs out (30 s), and the run completes with exactly the rows of the seeded local run.
func TestKill9Worker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Parallel()
	faultRun(t, func(w *testbin.Process) { w.Kill() })
}
