package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
)

// Distinctive literal keys: one in the config's model_providers, one in the controller's
// --providers file.
const (
	leakKey     = "sk-leak-7f3a9c1e-config"
	leakFileKey = "sk-leak-b24d-providers-file"
)

// keyedStub answers only requests whose bearer token is one of keys, and 401 otherwise, as a
// real endpoint does: a run that succeeds proved that its workers had the keys.
func keyedStub(keys ...string) *llmstub.Stub {
	return llmstub.New(llmstub.Options{Faults: func(_ int64, req *llmstub.ChatRequest) llmstub.Fault {
		for _, k := range keys {
			if req.Header.Get("Authorization") == "Bearer "+k {
				return llmstub.Fault{}
			}
		}
		return llmstub.Fault{Status: 401}
	}})
}

// keyedInputs writes, in a folder of their own (the only place the keys may be), a config
// with a literal key and a model on a providers-file entry with another, the providers file
// and a worker's secrets file. It returns their paths.
func keyedInputs(t *testing.T, endpoint string) (cfg, providers, secretsFile string) {
	t.Helper()
	in := t.TempDir()
	cfg, providers, secretsFile = filepath.Join(in, "config.yaml"), filepath.Join(in, "providers.yaml"), filepath.Join(in, "secrets")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
model_providers:
  - {name: lit, endpoint: "%s", api_key: "%s"}
model_configs:
  - {alias: a, model: m, provider: lit}
  - {alias: b, model: m, provider: fromfile}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, tea]}}
  - {name: q, column_type: llm-text, model_alias: a, prompt: "Ask about {{ topic }}"}
  - {name: r, column_type: llm-text, model_alias: b, prompt: "Answer {{ q }}"}
`, endpoint, leakKey), 0o600))
	require.NoError(t, os.WriteFile(providers, fmt.Appendf(nil, `
providers:
  - {name: fromfile, endpoint: "%s", api_key: "%s"}
`, endpoint, leakFileKey), 0o600))
	require.NoError(t, os.WriteFile(secretsFile, fmt.Appendf(nil,
		"# the keys the config and the providers file give literally\nmodel_providers.lit=%s\nproviders.fromfile=%s\n", leakKey, leakFileKey), 0o600))
	return cfg, providers, secretsFile
}

// recordBus keeps every message published on the server at url from now on: stream messages,
// KV puts (rf_runs, rf_commits, rf_preview, rf_workers), object-store chunks, and the replies
// to JetStream API calls (KV gets included). The returned func lists the subjects of those
// that contain key in their subject, headers or body.
func recordBus(t *testing.T, url string) func(key string) []string {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	var msgs []*nats.Msg
	_, err = nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush()) // in place before anything of the run is published
	return func(key string) []string {
		require.NoError(t, nc.Flush())
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, msgs, "the recorder saw the run")
		var where []string
		for _, m := range msgs {
			if strings.Contains(m.Subject, key) || bytes.Contains(m.Data, []byte(key)) || strings.Contains(fmt.Sprint(m.Header), key) {
				where = append(where, m.Subject)
			}
		}
		return where
	}
}

// filesWith returns the files under the dirs whose name or content contains key.
func filesWith(t *testing.T, key string, dirs ...string) []string {
	t.Helper()
	var where []string
	for _, dir := range dirs {
		require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte(key)) || strings.Contains(path, key) {
				where = append(where, path)
			}
			return nil
		}))
	}
	return where
}

// The key-leak test of a distributed deployment: workers get the keys from a --secrets file;
// a build and a preview succeed against an endpoint that accepts only those keys; and neither
// key appears in any message the server carried, in any file under the output, the
// controller's working folder or the server's JetStream store (rf_runs, rf_commits, the
// streams on disk), or in any process's output.
func TestKeyLeakDistributed(t *testing.T) {
	t.Parallel()
	stub := keyedStub(leakKey, leakFileKey)
	cfg, providers, secretsFile := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	setupDeployment(t, srv.URL) // as an operator would: workers and sinkd only look the deployment up
	leaks := recordBus(t, srv.URL)
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
	require.Equal(t, 6, readDataset(t, filepath.Join(out, "leak")).rows())
	preview := controller(t, wd, "preview", "-f", cfg, "--providers", providers, "-n", "3", "--nats-url", srv.URL)
	requireCode(t, 0, preview, "preview")
	stopGracefully(t, w, sinkd)

	require.Zero(t, stub.Stats().Failed, "every request carried the right key")
	require.NotZero(t, stub.Stats().Completed)
	for _, key := range []string{leakKey, leakFileKey} {
		require.Empty(t, leaks(key), "messages with the key")
		require.Empty(t, filesWith(t, key, out, wd, srv.StoreDir), "files with the key")
		for name, text := range map[string]string{"run": build.Stdout + build.Stderr, "preview": preview.Stdout + preview.Stderr,
			"worker": w.Output.String(), "sinkd": sinkd.Output.String()} {
			require.NotContains(t, text, key, "the output of %s", name)
		}
	}
}

// A worker that has no value for a redacted key fails the run with an error that names the
// model and says how to give the key, instead of sending the marker to the endpoint.
func TestRedactedKeyMissingOnWorker(t *testing.T) {
	t.Parallel()
	stub := keyedStub(leakKey, leakFileKey)
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	ws, sinkd := startServices(t, srv.URL, t.TempDir(), 1)

	res := controller(t, "", "run", "-f", cfg, "--providers", providers, "-n", "3", "--nats-url", srv.URL)
	require.NotEqual(t, 0, res.Code, "run without the worker's keys\nstderr:\n%s", res.Stderr)
	require.Contains(t, res.Stderr, `(provider "lit")`)
	require.Contains(t, res.Stderr, "--secrets")
	require.Contains(t, res.Stderr, "RF_SECRET_MODEL_PROVIDERS_LIT")
	require.NotContains(t, res.Stderr, leakKey)
	require.Zero(t, stub.Stats().Failed, "the endpoint never saw the marker")
	stopGracefully(t, append(ws, sinkd)...)
}

// The key-leak test of local mode through the binary, build and preview: the run succeeds
// with the keys in the controller's memory, and no file it leaves (output, working folder,
// its temp folder) and none of its output has them. The messages of local mode's embedded
// server are checked in internal/deploy (TestKeyLeakLocal), which can subscribe to it.
func TestKeyLeakLocalBinary(t *testing.T) {
	t.Parallel()
	stub := keyedStub(leakKey, leakFileKey)
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	out, wd, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	env := append(envWithout("NATS_URL", "TMPDIR"), "TMPDIR="+tmp)
	bin := testbin.Binary(t, "controller")

	build := runCommandEnv(t, wd, env, bin, "run", "-f", cfg, "--providers", providers, "-n", "6", "--buffer-size", "3",
		"--name", "leak", "--out", out)
	requireCode(t, 0, build, "run")
	require.Equal(t, 6, readDataset(t, filepath.Join(out, "leak")).rows())
	preview := runCommandEnv(t, wd, env, bin, "preview", "-f", cfg, "--providers", providers, "-n", "3")
	requireCode(t, 0, preview, "preview")

	require.Zero(t, stub.Stats().Failed, "every request carried the right key")
	for _, key := range []string{leakKey, leakFileKey} {
		require.Empty(t, filesWith(t, key, out, wd, tmp), "files with the key")
		require.NotContains(t, build.Stdout+build.Stderr+preview.Stdout+preview.Stderr, key)
	}
}

// Without a secrets file, a worker reads a redacted key from RF_SECRET_<NAME>.
func TestRedactedKeyFromWorkerEnvironment(t *testing.T) {
	t.Parallel()
	stub := keyedStub(leakKey, leakFileKey)
	cfg, providers, _ := keyedInputs(t, stub.Start(t))
	srv := testbin.StartNATSServer(t)
	setupDeployment(t, srv.URL) // as an operator would: workers and sinkd only look the deployment up
	out := t.TempDir()
	w := testbin.StartProcess(t, testbin.Binary(t, "worker"), []string{"--nats-url", srv.URL},
		[]string{"RF_SECRET_MODEL_PROVIDERS_LIT=" + leakKey, "RF_SECRET_PROVIDERS_FROMFILE=" + leakFileKey})
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", srv.URL, "--out", out}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, w.Output.WaitFor(ctx, "worker started"))
	require.NoError(t, sinkd.Output.WaitFor(ctx, "sinkd started"))

	res := controller(t, "", "run", "-f", cfg, "--providers", providers, "-n", "3", "--name", "env", "--nats-url", srv.URL)
	requireCode(t, 0, res, "run")
	require.Equal(t, 3, readDataset(t, filepath.Join(out, "env")).rows())
	require.Zero(t, stub.Stats().Failed)
	stopGracefully(t, w, sinkd)
}
