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

// fleet is the deployment a fault test runs on: real nats-server, worker and sinkd processes.
type fleet struct {
	srv     *testbin.Process
	workers []*testbin.Process
	sinkd   *testbin.Process
}

// faultRun runs 60,000 rows on two worker processes, applies fault once the run is under way,
// and checks the run completes with exactly the rows of a local run with the same seed.
func faultRun(t *testing.T, fault func(f *fleet)) {
	t.Helper()
	const n, buffer, seed = 60000, 1000, 9
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2)
	args := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(buffer),
		"--seed", fmt.Sprint(seed), "--name", "fleet"}
	ctrl, _ := startRun(t, srv.URL, append(args, "--nats-url", srv.URL)...)
	f := &fleet{srv: srv, workers: ws, sinkd: sinkd}
	fault(f)
	require.NoError(t, waitExit(t, ctrl, runTimeout, connect(t, srv.URL)), ctrl.Output.String())
	require.False(t, ws[1].Exited(), ws[1].Output.String())

	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "fleet")), readDataset(t, filepath.Join(outLocal, "fleet")), n)
	stopGracefully(t, ws[1], f.sinkd)
}

// SIGTERM to one of two workers mid-run: it hands its groups back and exits 0, and the run
// completes on the other.
func TestSIGTERMOneOfTwoWorkers(t *testing.T) {
	t.Parallel()
	faultRun(t, func(f *fleet) {
		w := f.workers[0]
		require.NoError(t, w.Signal(syscall.SIGTERM))
		require.NoError(t, waitExit(t, w, runTimeout, nil), "a worker stopped with SIGTERM exits 0:\n%s", w.Output.String())
	})
}

// kill -9 of a worker in the middle of the run: the groups it held are redelivered once their
// AckWait runs out (30 s), and the run completes with exactly the rows of the seeded local run.
func TestKill9Worker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Parallel()
	faultRun(t, func(f *fleet) { f.workers[0].Kill() })
}

// kill -9 of sinkd mid-run, then a restart: the group it was writing is redelivered (after the
// sink consumer's AckWait) and written again under the same name; no temp file remains.
func TestKill9SinkdThenRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Parallel()
	faultRun(t, func(f *fleet) {
		f.sinkd.Kill()
		f.sinkd.Restart(t)
	})
}

// A restart of nats-server on the same store during a run: every process reconnects, the
// streams survive on disk, publishes are retried with their ids, and the run completes.
func TestNATSServerRestartDuringRun(t *testing.T) {
	t.Parallel()
	faultRun(t, func(f *fleet) { f.srv.Restart(t) })
}
