package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// A worker container cut off from the network in the middle of a group: the group runs again
// on the other worker once its AckWait runs out, the cut-off worker's outcome — published when
// it is let back in — changes nothing, and the run has exactly the rows of a seeded local run.
func TestWorkerCutOffMidGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	t.Parallel()
	e2eImages(t)
	id := randomSuffix(t)
	net := "rf-cut-" + id
	docker(t, "network", "create", net)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", net).Run() })
	run := func(name string, args ...string) string {
		full := append([]string{"run", "--detach", "--name", name, "--network", net}, args...)
		docker(t, full...)
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := exec.Command("docker", "logs", name).CombinedOutput()
				t.Logf("logs of %s:\n%s", name, out)
			}
			_ = exec.Command("docker", "rm", "--force", name).Run()
		})
		return name
	}
	natsName := run("rf-cut-nats-"+id, "--publish", "127.0.0.1::4222", "rowforge/nats:"+composeImageTag)
	hostPort := docker(t, "port", natsName, "4222/tcp")
	url := "nats://" + strings.Split(hostPort, "\n")[0]
	inNet := fmt.Sprintf("nats://%s:4222", natsName)
	workers := []string{
		run("rf-cut-w1-"+id, "rowforge/worker:"+composeImageTag, "--nats-url", inNet, "--id", "w1", "--concurrency", "1"),
		run("rf-cut-w2-"+id, "rowforge/worker:"+composeImageTag, "--nats-url", inNet, "--id", "w2", "--concurrency", "1"),
	}
	out := t.TempDir()
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", url, "--out", out}, nil)
	setupDeployment(t, url) // the services wait for it
	js := connect(t, url)
	waitForStreams(t, js, "RF_GROUPS", "RF_OUTCOMES", "RF_SINK")
	// The redelivery waits out the group's AckWait (30 s) after w1 is cut off.
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitTimeout)
	defer cancel()
	require.NoError(t, sinkd.Output.WaitFor(ctx, "sinkd started"))

	const n, buffer, seed = 600_000, 100_000, 23 // groups of about a second each
	args := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(buffer),
		"--seed", fmt.Sprint(seed), "--name", "cut"}
	kv, err := js.KeyValue(ctx, "rf_workers")
	require.NoError(t, err)
	watch, err := kv.Watch(ctx, "w1")
	require.NoError(t, err)
	ctrl := testbin.StartProcess(t, testbin.Binary(t, "controller"), append(args, "--nats-url", url), nil)

	// Freeze w1 while it holds a group, cut it off, and let it go on, alone.
	holding := func(worker string) []int {
		e, err := kv.Get(ctx, worker)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		require.NoError(t, err)
		w, err := wire.DecodeWorkerRecord(e.Value())
		require.NoError(t, err)
		for _, groups := range w.InFlight {
			return groups
		}
		return nil
	}
	var held []int
	for held == nil {
		select {
		case <-watch.Updates():
		case <-ctx.Done():
			t.Fatalf("w1 took no group:\n%s", ctrl.Output.String())
		}
		if len(holding("w1")) == 0 {
			continue
		}
		docker(t, "pause", workers[0])
		if held = holding("w1"); held == nil { // it finished before the pause: wait for its next group
			docker(t, "unpause", workers[0])
		}
	}
	require.NoError(t, watch.Stop())
	docker(t, "network", "disconnect", net, workers[0])
	docker(t, "unpause", workers[0])
	t.Logf("w1 cut off holding group %v", held)

	// Once w2 has the group again, let w1 back in: its outcome of the same group, published
	// as soon as it reconnects, races w2's, and whichever comes second is a duplicate.
	for !slicesContains(holding("w2"), held[0]) {
		select {
		case <-ctx.Done():
			t.Fatalf("group %d was not redelivered to w2:\n%s", held[0], ctrl.Output.String())
		case <-time.After(200 * time.Millisecond): // polled: the redelivery is the server's, after AckWait
		}
	}
	docker(t, "network", "connect", net, workers[0])
	require.NoError(t, waitExit(t, ctrl, runTimeout, js), ctrl.Output.String())

	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "cut")), readDataset(t, filepath.Join(outLocal, "cut")), n)
	require.NoError(t, sinkd.Stop())
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
