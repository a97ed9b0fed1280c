package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// outcomes counts the group outcomes workers publish, per run and group, as they travel (a core
// subscription sees every publish, also one the stream drops as a duplicate): how often each
// group was generated. mark starts a new phase; count(phase) reads one.
type outcomes struct {
	mu     sync.Mutex
	phase  int
	counts []map[string]int // per phase: "<run>/<group>" -> outcomes
}

func watchOutcomes(t *testing.T, url string) *outcomes {
	t.Helper()
	o := &outcomes{counts: []map[string]int{{}}}
	nc := connect(t, url).Conn()
	sub, err := nc.Subscribe("rf.outcomes.*.group.*", func(m *nats.Msg) {
		tok := strings.Split(m.Subject, ".")
		o.mu.Lock()
		defer o.mu.Unlock()
		o.counts[o.phase][tok[2]+"/"+tok[4]]++
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush()) // subscribed before anything is generated
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return o
}

func (o *outcomes) mark() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.phase++
	o.counts = append(o.counts, map[string]int{})
}

// count returns run's outcomes per group in phases from..to (inclusive).
func (o *outcomes) count(run string, from, to int) map[int]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[int]int{}
	for p := from; p <= to && p < len(o.counts); p++ {
		for k, c := range o.counts[p] {
			r, g, _ := strings.Cut(k, "/")
			if n, err := strconv.Atoi(g); r == run && err == nil {
				out[n] += c
			}
		}
	}
	return out
}

// kill -9 of the controller mid-run, then `controller resume`: the run completes with exactly
// the rows of the seeded local run, and no group the killed controller had committed (its
// ledger, read after the kill) is generated again — counted from the outcomes on the bus.
func TestKill9ControllerThenResume(t *testing.T) {
	t.Parallel()
	const n, buffer, seed = 200000, 4000, 31
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2)
	gen := watchOutcomes(t, srv.URL)
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
	gen.mark() // what is generated from here on comes after the ledger was read
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

	again := gen.count(run, 1, 1)
	for g := range before {
		require.Zero(t, again[g], "group %d was committed before the kill and generated again", g)
	}
	total := gen.count(run, 0, 1)
	require.Len(t, total, n/buffer, "every group was generated")

	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "resumed")), readDataset(t, filepath.Join(outLocal, "resumed")), n)
	metadata := readString(t, filepath.Join(out, "resumed", "metadata.json"))
	require.Contains(t, metadata, `"run_id": "`+run+`"`)
	stopGracefully(t, append(ws, sinkd)...)
}
