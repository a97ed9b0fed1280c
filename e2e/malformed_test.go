package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

func TestMalformedMessagesAreTerminated(t *testing.T) {
	t.Parallel()
	ns := testbin.StartNATSServer(t)
	out := t.TempDir()
	workers, sinkd := startServices(t, ns.URL, out, 1)
	worker := workers[0]
	// controller setup created the layout; this also shows that streamNames, which
	// TestInvalidConfigs relies on to see an empty server, does list streams.
	require.Subset(t, streamNames(t, connect(t, ns.URL)), []string{"RF_GROUPS", "RF_OUTCOMES", "RF_SINK", "KV_rf_runs", "OBJ_rf_payloads"})

	// Garbage on every subject the services listen to, published with the real nats CLI
	// before any run exists.
	garbage := []struct {
		subject, body string
		proc          *testbin.Process
		want          string // what the process logs about it
	}{
		{"rf.groups.nope.0", "garbage", worker, "terminated"},
		{"rf.groups.nope.notanumber", "garbage", worker, "terminated"},
		{"rf.groups.nope", "garbage", worker, "terminated"},
		{"rf.sink.nope.group.0", "garbage", sinkd, "terminated"},
		{"rf.sink.nope.weird.0", "garbage", sinkd, "terminated"},
		// Control messages are plain NATS (not JetStream): there is nothing to terminate,
		// the worker ignores them.
		{"rf.control.nope", "not json", worker, "ignored"},
	}
	natsCLI := testbin.NATSCLI(t)
	for _, g := range garbage {
		res := runCommand(t, "", natsCLI, "--server", ns.URL, "pub", g.subject, g.body)
		requireCode(t, 0, res, "nats pub "+g.subject)
	}

	res := controller(t, "", "run", "-f", quickstartPath(t), "-n", "500", "--seed", "1", "--nats-url", ns.URL)
	requireCode(t, 0, res, "controller run after garbage")
	dir := filepath.Join(out, "quickstart")
	require.True(t, strings.HasSuffix(lastLine(res.Stderr), "dataset "+dir), "last line: %q", lastLine(res.Stderr))
	ds := readDataset(t, dir)
	require.Equal(t, 500, ds.rows())
	require.Equal(t, 500, ds.Meta.ActualNumRecords)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for _, g := range garbage {
		subj := "subject=" + g.subject + " "
		require.NoError(t, g.proc.Output.WaitFor(ctx, subj))
		var lines []string
		for _, line := range strings.Split(g.proc.Output.String(), "\n") {
			if strings.Contains(line, subj) {
				lines = append(lines, line)
			}
		}
		require.Truef(t, strings.Contains(strings.Join(lines, "\n"), g.want),
			"the log lines about %s should say %q:\n%s", g.subject, g.want, strings.Join(lines, "\n"))
	}

	require.False(t, worker.Exited(), "the worker survives the garbage:\n%s", worker.Output.String())
	require.False(t, sinkd.Exited(), "sinkd survives the garbage:\n%s", sinkd.Output.String())
	stopGracefully(t, worker, sinkd)
}
