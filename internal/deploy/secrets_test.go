package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/leaktest"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The key-leak test of local mode, build and preview, on leaktest's fixture: a config with a
// literal key and a credential header, a model on a providers-file entry with another key and
// header, and an MCP stdio server with a token in its env; the endpoint accepts only those
// keys with their headers, and answers EnvOK only if the MCP server had the token. The run succeeds with EnvOK
// in every row (so the in-process workers had every secret, in memory), and no secret appears
// in any message the embedded server carried (the run record in rf_runs, rf_commits,
// rf_preview, the streams), in any file of the output, or in the logs.
func TestKeyLeakLocal(t *testing.T) {
	t.Parallel()
	stub := leaktest.Stub()
	endpoint := stub.Start(t)
	text := leaktest.Config(endpoint, testbin.Program(t, "internal/mcpstub/cmd/mcpstub"))
	providers := []wire.Provider{{Name: leaktest.FileProvider, Endpoint: endpoint, ProviderType: "openai", APIKey: leaktest.FileKey,
		ExtraHeaders: map[string]string{"X-Auth-Token": leaktest.FileHeader}}}

	for _, mode := range []string{wire.ModeBuild, wire.ModePreview} {
		t.Run(mode, func(t *testing.T) {
			cfg := load(t, text)
			out := t.TempDir()
			var logs bytes.Buffer
			var mu sync.Mutex
			var bus *leaktest.Bus
			sum, err := deploy.Run(context.Background(), deploy.Params{
				Config: cfg, Workers: 2, Out: out,
				Logger:  slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Run:     lifecycle.Options{Mode: mode, NumRecords: 6, BufferSize: 3, Seed: 1, DatasetName: "leak", Providers: providers},
				OnStart: func(_, url string) { bus = leaktest.RecordBus(t, url) },
			})
			require.NoError(t, err)
			require.NotNil(t, bus, "the run started its server")
			var rows []*frame.Frame
			if mode == wire.ModePreview {
				for _, r := range sum.Records {
					f, err := frame.FromRecord(r)
					require.NoError(t, err)
					rows = append(rows, f)
					r.Release()
				}
			} else {
				require.Equal(t, 6, sum.Result.Rows)
				require.FileExists(t, filepath.Join(out, "leak", "builder_config.json"))
				for _, name := range []string{"batch_00000.parquet", "batch_00001.parquet"} {
					rows = append(rows, readParquet(t, filepath.Join(out, "leak", "parquet-files", name)))
				}
			}
			n := 0
			for _, f := range rows {
				for i := range f.Len() {
					require.Equal(t, leaktest.EnvOK, f.Row(i)["env"], "the MCP server got the token")
					n++
				}
			}
			require.Equal(t, 6, n)
			for _, secret := range leaktest.Secrets {
				require.Empty(t, bus.Leaks(secret), "secret on the bus")
				require.Empty(t, leaktest.Files(t, secret, out), "secret in a file")
				mu.Lock()
				require.NotContains(t, logs.String(), secret, "secret in the logs")
				mu.Unlock()
			}
		})
	}
	require.Zero(t, stub.Stats().Failed, "every request carried the right key and header")
	require.NotZero(t, stub.Stats().Completed)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// config_hash in metadata.json is computed on the redacted config: two runs of one config
// with different literal keys have the same hash.
func TestConfigHashIgnoresKey(t *testing.T) {
	t.Parallel()
	keys := []string{"sk-hash-one-1111", "sk-hash-two-2222"}
	stub := leaktest.KeyedStub(leaktest.Bearer(keys[0]), leaktest.Bearer(keys[1]))
	endpoint := stub.Start(t)
	var hashes []string
	for _, key := range keys {
		cfg := load(t, fmt.Sprintf(`
model_providers:
  - {name: lit, endpoint: "%s", api_key: "%s"}
model_configs:
  - {alias: a, model: m, provider: lit}
columns:
  - {name: q, column_type: llm-text, model_alias: a, prompt: "hi"}
`, endpoint, key))
		out := t.TempDir()
		_, err := deploy.Run(context.Background(), deploy.Params{
			Config: cfg, Workers: 1, Out: out, Logger: slog.New(slog.DiscardHandler),
			Run: lifecycle.Options{Mode: wire.ModeBuild, NumRecords: 2, BufferSize: 2, DatasetName: "h"},
		})
		require.NoError(t, err)
		data, err := os.ReadFile(filepath.Join(out, "h", "metadata.json"))
		require.NoError(t, err)
		var meta struct {
			ConfigHash string `json:"config_hash"`
		}
		require.NoError(t, json.Unmarshal(data, &meta))
		require.NotEmpty(t, meta.ConfigHash)
		hashes = append(hashes, meta.ConfigHash)
	}
	require.Equal(t, hashes[0], hashes[1])
	require.Zero(t, stub.Stats().Failed)
}
