package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// generated returns the groups of run that a worker's debug log says it generated.
func generated(log, run string) map[int]int {
	re := regexp.MustCompile(`msg="group done" .*run=` + run + ` group=(\d+) `)
	out := map[int]int{}
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		g, _ := strconv.Atoi(m[1])
		out[g]++
	}
	return out
}

// kill -9 of the controller mid-run, then `controller resume`: the run completes with exactly
// the rows of the seeded local run, and no group the killed controller had committed (its
// ledger, read after the kill) is generated again — counted from the workers' logs.
func TestKill9ControllerThenResume(t *testing.T) {
	t.Parallel()
	const n, buffer, seed = 200000, 4000, 31
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2, "--log-level", "debug")
	args := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(buffer),
		"--seed", fmt.Sprint(seed), "--name", "resumed"}
	ctrl, run := startRun(t, srv.URL, append(args, "--nats-url", srv.URL)...)

	// Kill it once a few groups are in the ledger, and read the ledger it leaves.
	js := connect(t, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	commits, err := js.KeyValue(ctx, "rf_commits")
	require.NoError(t, err)
	watch, err := commits.WatchFiltered(ctx, []string{wire.LedgerKeys(run)})
	require.NoError(t, err)
	for seen := 0; seen < 3; {
		select {
		case e := <-watch.Updates():
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				seen++
			}
		case <-ctx.Done():
			t.Fatalf("the ledger did not grow:\n%s", ctrl.Output.String())
		}
	}
	require.NoError(t, watch.Stop())
	ctrl.Kill()
	before, err := broker.ReadLedger(ctx, commits, run)
	require.NoError(t, err)
	offsets := make([]int, len(ws))
	for i, w := range ws {
		offsets[i] = len(w.Output.String())
	}
	runs, err := js.KeyValue(ctx, "rf_runs")
	require.NoError(t, err)
	e, err := runs.Get(ctx, run)
	require.NoError(t, err)
	rec, err := wire.DecodeRunRecord(e.Value())
	require.NoError(t, err)
	require.Equal(t, wire.RunRunning, rec.State)
	require.Less(t, len(before), n/buffer, "the run was killed before its end")

	res := controller(t, "", "resume", run, "--nats-url", srv.URL)
	requireCode(t, 0, res, "resume")
	require.Contains(t, lastLine(res.Stderr), fmt.Sprintf("%d groups had ended before the resume", len(before)))

	for i, w := range ws {
		again := generated(w.Output.String()[offsets[i]:], run)
		for g := range before {
			require.Zero(t, again[g], "group %d was committed before the kill and generated again by worker %d", g, i)
		}
	}
	total := map[int]int{}
	for _, w := range ws {
		for g, c := range generated(w.Output.String(), run) {
			total[g] += c
		}
	}
	require.Len(t, total, n/buffer, "every group was generated")

	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "resumed")), readDataset(t, filepath.Join(outLocal, "resumed")), n)
	metadata := readString(t, filepath.Join(out, "resumed", "metadata.json"))
	require.Contains(t, metadata, `"run_id": "`+run+`"`)
	stopGracefully(t, append(ws, sinkd)...)
}
