package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// startCluster starts a three-node JetStream cluster of real nats-server processes and
// returns them once JetStream can place an R3 stream (a meta leader is elected).
func startCluster(t *testing.T) []*testbin.Process {
	t.Helper()
	ports := []int{testbin.FreePort(t), testbin.FreePort(t), testbin.FreePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*testbin.Process
	for i, p := range ports {
		nodes = append(nodes, testbin.StartNATSServer(t, "--server_name", fmt.Sprintf("n%d-%s", i+1, t.Name()),
			"--cluster_name", "rowforge", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", p),
			"--routes", strings.Join(routes, ",")))
	}
	nc, err := nats.Connect(clusterURL(nodes))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	probe := jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3, Storage: jetstream.MemoryStorage}
	for { // polled with a deadline: the election is the servers' own, on their own clock
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateOrUpdateStream(actx, probe)
		acancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the cluster placed no R3 stream within %v: %v", waitTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	require.NoError(t, js.DeleteStream(ctx, "PROBE"))
	// The operator prepares the deployment's R3 streams and buckets once, as one client: three
	// services creating the same R3 resources at the same moment on a cluster this fresh can
	// take longer than a test waits (they retry until it works).
	layout := wire.DefaultLayout()
	layout.Replicas = 3
	ectx, ecancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer ecancel()
	for {
		if _, err := broker.Ensure(ectx, js, layout); err == nil {
			break
		} else if ectx.Err() != nil {
			t.Fatalf("could not prepare the R3 layout within %v: %v", 2*waitTimeout, err)
		}
	}
	return nodes
}

func clusterURL(nodes []*testbin.Process) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// A three-node cluster with R3 streams: one node is killed mid-run, every process reconnects
// to the others, and the run completes with exactly the rows of the seeded local run.
//
// Not parallel: it runs alone, before the parallel tests. Three servers electing leaders on two
// cores among the rest of the suite answered some API requests only after seconds, which tests
// a loaded machine more than the cluster.
func TestClusterNodeKilledMidRun(t *testing.T) {
	const n, buffer, seed = 60000, 1000, 17
	nodes := startCluster(t)
	url := clusterURL(nodes)
	out := t.TempDir()
	ws, sinkd := startServices(t, url, out, 2, "--replicas", "3")
	args := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(buffer),
		"--seed", fmt.Sprint(seed), "--name", "clustered"}
	ctrl, _ := startRun(t, url, append(args, "--nats-url", url, "--replicas", "3")...)

	// Kill the leader of RF_GROUPS — the node whose loss costs the most — once every replica
	// of the run's streams is current: a healthy cluster loses a node.
	leader := settledLeader(t, connect(t, url), wire.DefaultLayout().GroupsStream(),
		wire.DefaultLayout().OutcomesStream(), wire.DefaultLayout().SinkStream())
	killed := false
	for i, node := range nodes {
		if leader == fmt.Sprintf("n%d-%s", i+1, t.Name()) {
			node.Kill()
			killed = true
		}
	}
	require.True(t, killed, "no node is the leader %q", leader)

	require.NoError(t, waitExit(t, ctrl, runTimeout, connect(t, url)), ctrl.Output.String())
	outLocal := t.TempDir()
	requireCode(t, 0, controller(t, "", append(args, "--out", outLocal)...), "local run")
	requireIdentical(t, readDataset(t, filepath.Join(out, "clustered")), readDataset(t, filepath.Join(outLocal, "clustered")), n)
	stopGracefully(t, append(ws, sinkd)...)
}

// settledLeader waits until every replica of the streams is current and returns the leader of
// the first.
func settledLeader(t *testing.T, js jetstream.JetStream, streams ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for { // polled with a deadline: replication is the servers' own, on their own clock
		leader, settled := "", true
		for i, name := range streams {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			s, err := js.Stream(actx, name)
			acancel()
			if err != nil {
				settled = false
				break
			}
			info := s.CachedInfo()
			require.Equal(t, 3, info.Config.Replicas, name)
			if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				settled = false
				break
			}
			for _, r := range info.Cluster.Replicas {
				settled = settled && r.Current && !r.Offline
			}
			if i == 0 {
				leader = info.Cluster.Leader
			}
		}
		if settled {
			return leader
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the streams' replicas were not all current within %v", waitTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
