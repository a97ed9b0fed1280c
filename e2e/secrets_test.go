package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/leaktest"
	"github.com/rowforge/rowforge/internal/testbin"
)

// workerSecretEnv gives a worker every secret of leaktest's fixture in RF_SECRET_<NAME>
// variables, as an alternative to its --secrets file.
var workerSecretEnv = []string{
	"RF_SECRET_MODEL_PROVIDERS_LIT=" + leaktest.Key,
	"RF_SECRET_MODEL_PROVIDERS_LIT_EXTRA_HEADERS_X_API_KEY=" + leaktest.Header,
	"RF_SECRET_PROVIDERS_FROMFILE=" + leaktest.FileKey,
	"RF_SECRET_PROVIDERS_FROMFILE_EXTRA_HEADERS_X_AUTH_TOKEN=" + leaktest.FileHeader,
	"RF_SECRET_MCP_PROVIDERS_GH_ENV_GITHUB_TOKEN=" + leaktest.EnvToken,
}

// keyedInputs writes, in a folder of their own (the only place the secrets may be), the
// config of leaktest's fixture, its providers file and a worker's secrets file with all of
// its secrets. It returns their paths.
func keyedInputs(t *testing.T, endpoint string) (cfg, providers, secretsFile string) {
	t.Helper()
	in := t.TempDir()
	cfg, providers, secretsFile = filepath.Join(in, "config.yaml"), filepath.Join(in, "providers.yaml"), filepath.Join(in, "secrets")
	require.NoError(t, os.WriteFile(cfg, []byte(leaktest.Config(endpoint, testbin.Program(t, "internal/mcpstub/cmd/mcpstub"))), 0o600))
	require.NoError(t, os.WriteFile(providers, fmt.Appendf(nil, `
providers:
  - {name: %s, endpoint: "%s", api_key: "%s", extra_headers: {X-Auth-Token: "%s"}}
`, leaktest.FileProvider, endpoint, leaktest.FileKey, leaktest.FileHeader), 0o600))
	require.NoError(t, os.WriteFile(secretsFile, fmt.Appendf(nil, `# the secrets the config and the providers file give literally
model_providers.lit=%s
model_providers.lit.extra_headers.x-api-key=%s
providers.fromfile=%s
providers.fromfile.extra_headers.X-Auth-Token=%s
mcp_providers.gh.env.GITHUB_TOKEN=%s
`, leaktest.Key, leaktest.Header, leaktest.FileKey, leaktest.FileHeader, leaktest.EnvToken), 0o600))
	return cfg, providers, secretsFile
}

// requireEnvOK checks that every row of the dataset at dir says the MCP server had its token.
func requireEnvOK(t *testing.T, dir string, rows int) {
	t.Helper()
	ds := readDataset(t, dir)
	require.Equal(t, rows, ds.rows())
	for _, tb := range ds.Tables {
		for _, v := range tb.column(t, "env") {
			require.Equal(t, leaktest.EnvOK, v, "the MCP server got the token")
		}
	}
}

// The key-leak test of a distributed deployment: workers get the secrets (keys, credential
// headers, an MCP server's token) from a --secrets file; a build and a preview succeed against
// an endpoint that accepts only those keys with their headers, with EnvOK in every row; and no
// secret appears in any message the server carried, in any file under the output, the
// controller's working folder or the server's JetStream store (rf_runs, rf_commits, the
// streams on disk), or in any process's output.
func TestKeyLeakDistributed(t *testing.T) {
	t.Parallel()
	stub := leaktest.Stub()
	cfg, providers, secretsFile := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	setupDeployment(t, srv.URL) // as an operator would: workers and sinkd only look the deployment up
	bus := leaktest.RecordBus(t, srv.URL)
	out, wd := t.TempDir(), t.TempDir()

	workerBin := testbin.Binary(t, "worker")
	w := testbin.StartProcess(t, workerBin, []string{"--nats-url", srv.URL, "--secrets", secretsFile}, nil)
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", srv.URL, "--out", out}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, w.Output.WaitFor(ctx, "worker started"))
	require.NoError(t, sinkd.Output.WaitFor(ctx, "sinkd started"))

	build := controller(t, wd, "run", "-f", cfg, "--providers", providers, "-n", "6", "--buffer-size", "3",
		"--name", "leak", "--nats-url", srv.URL)
	requireCode(t, 0, build, "run")
	requireEnvOK(t, filepath.Join(out, "leak"), 6)
	preview := controller(t, wd, "preview", "-f", cfg, "--providers", providers, "-n", "3", "--nats-url", srv.URL)
	requireCode(t, 0, preview, "preview")
	stopGracefully(t, w, sinkd)

	require.Zero(t, stub.Stats().Failed, "every request carried the right key and header")
	require.NotZero(t, stub.Stats().Completed)
	for _, key := range leaktest.Secrets {
		require.Empty(t, bus.Leaks(key), "messages with the key")
		require.Empty(t, leaktest.Files(t, key, out, wd, srv.StoreDir), "files with the key")
		for name, text := range map[string]string{"run": build.Stdout + build.Stderr, "preview": preview.Stdout + preview.Stderr,
			"worker": w.Output.String(), "sinkd": sinkd.Output.String()} {
			require.NotContains(t, text, key, "the output of %s", name)
		}
	}
}

// A worker that has no value for a redacted key or header fails the run with an error that
// names the model and the header and says how to give them, instead of sending the marker to
// the endpoint.
func TestRedactedKeyMissingOnWorker(t *testing.T) {
	t.Parallel()
	stub := leaktest.Stub()
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	ws, sinkd := startServices(t, srv.URL, t.TempDir(), 1)

	res := controller(t, "", "run", "-f", cfg, "--providers", providers, "-n", "3", "--nats-url", srv.URL)
	require.NotEqual(t, 0, res.Code, "run without the worker's keys\nstderr:\n%s", res.Stderr)
	require.Contains(t, res.Stderr, `(provider "lit")`)
	require.Contains(t, res.Stderr, "--secrets")
	require.Contains(t, res.Stderr, "RF_SECRET_MODEL_PROVIDERS_LIT")
	require.Contains(t, res.Stderr, `header "x-api-key"`)
	require.Contains(t, res.Stderr, "RF_SECRET_MODEL_PROVIDERS_LIT_EXTRA_HEADERS_X_API_KEY")
	for _, key := range leaktest.Secrets {
		require.NotContains(t, res.Stderr, key)
	}
	require.Zero(t, stub.Stats().Failed, "the endpoint never saw the marker")
	stopGracefully(t, append(ws, sinkd)...)
}

// The key-leak test of local mode through the binary, build and preview: the run succeeds
// with the keys in the controller's memory, and no file it leaves (output, working folder,
// its temp folder) and none of its output has them. The messages of local mode's embedded
// server are checked in internal/deploy (TestKeyLeakLocal), which can subscribe to it.
func TestKeyLeakLocalBinary(t *testing.T) {
	t.Parallel()
	stub := leaktest.Stub()
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	out, wd, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	env := append(envWithout("NATS_URL", "TMPDIR"), "TMPDIR="+tmp)
	bin := testbin.Binary(t, "controller")

	build := runCommandEnv(t, wd, env, bin, "run", "-f", cfg, "--providers", providers, "-n", "6", "--buffer-size", "3",
		"--name", "leak", "--out", out)
	requireCode(t, 0, build, "run")
	requireEnvOK(t, filepath.Join(out, "leak"), 6)
	preview := runCommandEnv(t, wd, env, bin, "preview", "-f", cfg, "--providers", providers, "-n", "3")
	requireCode(t, 0, preview, "preview")

	require.Zero(t, stub.Stats().Failed, "every request carried the right key and header")
	for _, key := range leaktest.Secrets {
		require.Empty(t, leaktest.Files(t, key, out, wd, tmp), "files with the key")
		require.NotContains(t, build.Stdout+build.Stderr+preview.Stdout+preview.Stderr, key)
	}
}

// Without a secrets file, a worker reads redacted keys, headers and MCP variables from
// RF_SECRET_<NAME>.
func TestRedactedKeyFromWorkerEnvironment(t *testing.T) {
	t.Parallel()
	stub := leaktest.Stub()
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	setupDeployment(t, srv.URL) // as an operator would: workers and sinkd only look the deployment up
	out := t.TempDir()
	w := testbin.StartProcess(t, testbin.Binary(t, "worker"), []string{"--nats-url", srv.URL},
		workerSecretEnv)
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", srv.URL, "--out", out}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, w.Output.WaitFor(ctx, "worker started"))
	require.NoError(t, sinkd.Output.WaitFor(ctx, "sinkd started"))

	res := controller(t, "", "run", "-f", cfg, "--providers", providers, "-n", "3", "--name", "env", "--nats-url", srv.URL)
	requireCode(t, 0, res, "run")
	requireEnvOK(t, filepath.Join(out, "env"), 3)
	require.Zero(t, stub.Stats().Failed)
	stopGracefully(t, w, sinkd)
}
