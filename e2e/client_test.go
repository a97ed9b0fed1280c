package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// Two deployments can share a server under different prefixes; logs can be JSON lines.
func TestPrefixAndJSONLogs(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	flags := []string{"--nats-url", srv.URL, "--prefix", "team2", "--log-format", "json"}
	setupDeployment(t, srv.URL, "--prefix", "team2")
	ws := []*testbin.Process{testbin.StartProcess(t, testbin.Binary(t, "worker"), flags, nil)}
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), append(flags, "--out", out), nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, ws[0].Output.WaitFor(ctx, `"msg":"worker started"`))
	require.NoError(t, sinkd.Output.WaitFor(ctx, `"msg":"sinkd started"`))
	res := controller(t, "", "run", "-f", quickstartPath(t), "-n", "3000", "--buffer-size", "1000", "--name", "shared",
		"--nats-url", srv.URL, "--prefix", "team2")
	requireCode(t, 0, res, "run under a prefix")
	require.Contains(t, res.Stderr, "team2.control.", "the abort hint uses the prefix")
	require.Equal(t, 3000, readDataset(t, filepath.Join(out, "shared")).rows())

	names := streamNames(t, connect(t, srv.URL))
	require.Contains(t, names, "TEAM2_GROUPS")
	require.NotContains(t, names, "RF_GROUPS", "nothing of the default prefix was created")

	lines := strings.Split(strings.TrimSpace(ws[0].Output.String()), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "worker log line %q", l)
		require.Contains(t, rec, "msg")
	}
	stopGracefully(t, append(ws, sinkd)...)
}

func TestClientFlagMistakes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--creds", "a.creds", "--nkey", "k.nk"},
		{"--replicas", "0"},
		{"--log-format", "xml"},
		{"--prefix", "a.b"},
	} {
		res := runCommand(t, t.TempDir(), testbin.Binary(t, "worker"), append([]string{"--nats-url", "nats://127.0.0.1:1"}, args...)...)
		requireCode(t, 2, res, fmt.Sprint("worker ", args))
		require.True(t, strings.HasPrefix(res.Stderr, "usage error:"), "stderr: %q", res.Stderr)
	}
}
