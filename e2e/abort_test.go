package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

var runIDRe = regexp.MustCompile(`run ([0-9a-f]+) started`)

// startLongRun starts a controller run big enough to still be running when the test aborts it,
// and returns the process and the run id it printed.
func startLongRun(t *testing.T, url, out string) (*testbin.Process, string) {
	t.Helper()
	return startRun(t, url, "run", "-f", quickstartPath(t), "-n", "50000000", "--buffer-size", "2000",
		"--seed", "5", "--nats-url", url, "--name", "long")
}

// startRun starts a controller and returns once its run is under way (a group committed, as its
// progress in rf_runs shows), with the run id it printed.
func startRun(t *testing.T, url string, args ...string) (*testbin.Process, string) {
	t.Helper()
	ctrl := testbin.StartProcess(t, testbin.Binary(t, "controller"), args, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, ctrl.Output.WaitFor(ctx, "started"))
	m := runIDRe.FindStringSubmatch(ctrl.Output.String())
	require.NotNil(t, m, ctrl.Output.String())
	kv, err := connect(t, url).KeyValue(ctx, "rf_runs")
	require.NoError(t, err)
	for { // polled with a deadline: the run's progress is the controller's, on its own clock
		// The run id is printed just before the run is recorded: "not found" means "not yet".
		actx, acancel := context.WithTimeout(ctx, 2*time.Second) // one lost request is not the end
		e, err := kv.Get(actx, m[1])
		acancel()
		if !errors.Is(err, jetstream.ErrKeyNotFound) && !(errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			require.NoError(t, err, "waiting for the run to commit a group")
			rec, err := wire.DecodeRunRecord(e.Value())
			require.NoError(t, err)
			if rec.Progress.GroupsDone > 0 {
				return ctrl, m[1]
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the run committed no group within %v:\n%s", waitTimeout, ctrl.Output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// requireAborted checks that the controller exited 3 after draining: no metadata, and no live
// worker lists a group of the run in flight.
func requireAborted(t *testing.T, ctrl *testbin.Process, url, out, run string) {
	t.Helper()
	js := connect(t, url)
	err := waitExit(t, ctrl, runTimeout, js)
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "controller: %v\n%s", err, ctrl.Output.String())
	require.Equal(t, 3, exit.ExitCode(), ctrl.Output.String())
	require.Contains(t, lastLine(ctrl.Output.String()), "aborted:")
	matches, _ := filepath.Glob(filepath.Join(out, "long*", "metadata.json"))
	require.Empty(t, matches, "an aborted run never writes metadata.json")

	kv, err := js.KeyValue(t.Context(), "rf_workers")
	require.NoError(t, err)
	lister, err := kv.ListKeys(t.Context())
	require.NoError(t, err)
	for k := range lister.Keys() {
		e, err := kv.Get(t.Context(), k)
		require.NoError(t, err)
		w, err := wire.DecodeWorkerRecord(e.Value())
		require.NoError(t, err)
		require.Empty(t, w.InFlight[run], "worker %s still holds groups of the aborted run", w.ID)
	}
}

// An operator aborts a run from a terminal with the real nats CLI, then with `controller
// abort`: each controller exits 3 once the workers drained, writes no metadata, and the same
// workers take the next run.
func TestAbortFromTheTerminal(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, srv.URL, out, 2)

	// 1. nats pub, as the README shows.
	ctrl, run := startLongRun(t, srv.URL, out)
	status := controller(t, "", "status", "--nats-url", srv.URL)
	requireCode(t, 0, status, "controller status")
	require.Regexp(t, run+`\s+running\s+build`, status.Stdout)
	pub := exec.Command(testbin.NATSCLI(t), "--server", srv.URL, "pub", "rf.control."+run,
		`{"op":"abort","reason":"wrong config"}`)
	outPub, err := pub.CombinedOutput()
	require.NoError(t, err, string(outPub))
	requireAborted(t, ctrl, srv.URL, out, run)

	// 2. controller abort.
	ctrl, run = startLongRun(t, srv.URL, out)
	abort := controller(t, "", "abort", run, "--reason", "enough", "--nats-url", srv.URL)
	requireCode(t, 0, abort, "controller abort")
	require.Contains(t, abort.Stdout, "run "+run+": aborted")
	requireAborted(t, ctrl, srv.URL, out, run)
	status = controller(t, "", "status", run, "--nats-url", srv.URL)
	require.Regexp(t, run+`\s+aborted\s+build.*enough`, status.Stdout)

	// The workers stayed up and take the next run.
	next := controller(t, "", "run", "-f", quickstartPath(t), "-n", "3000", "--buffer-size", "1000",
		"--seed", "6", "--nats-url", srv.URL, "--name", "next")
	requireCode(t, 0, next, "the next run")
	_, err = os.Stat(filepath.Join(out, "next", "metadata.json"))
	require.NoError(t, err)
	for _, w := range ws {
		require.False(t, w.Exited(), "a worker exited:\n%s", w.Output.String())
	}
	stopGracefully(t, append(ws, sinkd)...)
}
