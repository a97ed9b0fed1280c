package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Distinctive literal keys: one in the config's model_providers, one in the providers file.
const (
	leakKey     = "sk-leak-7f3a9c1e-config"
	leakFileKey = "sk-leak-b24d-providers-file"
)

// keyedStub answers only requests that carry one of keys as their bearer token, and 401
// otherwise, as a real endpoint does.
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

// busRecorder keeps every message published on a NATS server, from the moment it subscribes:
// stream messages, KV puts (rf_runs, rf_commits, rf_preview), object-store chunks and the
// replies of JetStream API calls alike.
type busRecorder struct {
	mu   sync.Mutex
	msgs []*nats.Msg
	nc   *nats.Conn
}

func (b *busRecorder) start(t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	_, err = nc.Subscribe(">", func(m *nats.Msg) {
		b.mu.Lock()
		b.msgs = append(b.msgs, m)
		b.mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush()) // the subscription is in place before the run publishes
	b.nc = nc
}

// leaks returns where key appears in the recorded messages (subject, header or body).
func (b *busRecorder) leaks(key string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var where []string
	for _, m := range b.msgs {
		if strings.Contains(m.Subject, key) || bytes.Contains(m.Data, []byte(key)) || strings.Contains(fmt.Sprint(m.Header), key) {
			where = append(where, "message on "+m.Subject)
		}
	}
	return where
}

// fileLeaks returns the files under dir that contain key.
func fileLeaks(t *testing.T, dir, key string) []string {
	t.Helper()
	var where []string
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
	return where
}

// The key-leak test of local mode, build and preview: a config with a literal key, a model on
// a providers-file entry with another; the endpoint accepts only those keys. The run succeeds
// (so the in-process workers had the keys, in memory), and neither key appears in any message
// the embedded server carried (the run record in rf_runs, rf_commits, rf_preview, the streams),
// in any file of the output, or in the logs.
func TestKeyLeakLocal(t *testing.T) {
	t.Parallel()
	stub := keyedStub(leakKey, leakFileKey)
	endpoint := stub.Start(t)
	text := fmt.Sprintf(`
model_providers:
  - {name: lit, endpoint: "%s", api_key: "%s"}
model_configs:
  - {alias: a, model: m, provider: lit}
  - {alias: b, model: m, provider: fromfile}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, tea]}}
  - {name: q, column_type: llm-text, model_alias: a, prompt: "Ask about {{ topic }}"}
  - {name: r, column_type: llm-text, model_alias: b, prompt: "Answer {{ q }}"}
`, endpoint, leakKey)
	providers := []wire.Provider{{Name: "fromfile", Endpoint: endpoint, ProviderType: "openai", APIKey: leakFileKey}}

	for _, mode := range []string{wire.ModeBuild, wire.ModePreview} {
		t.Run(mode, func(t *testing.T) {
			cfg := load(t, text)
			out := t.TempDir()
			var logs bytes.Buffer
			var mu sync.Mutex
			bus := &busRecorder{}
			sum, err := deploy.Run(context.Background(), deploy.Params{
				Config: cfg, Workers: 2, Out: out,
				Logger:  slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Run:     lifecycle.Options{Mode: mode, NumRecords: 6, BufferSize: 3, Seed: 1, DatasetName: "leak", Providers: providers},
				OnStart: func(_, url string) { bus.start(t, url) },
			})
			require.NoError(t, err)
			if bus.nc != nil {
				t.Cleanup(bus.nc.Close)
			}
			if mode == wire.ModePreview {
				for _, r := range sum.Records {
					r.Release()
				}
			} else {
				require.Equal(t, 6, sum.Result.Rows)
				require.FileExists(t, filepath.Join(out, "leak", "builder_config.json"))
			}
			for _, key := range []string{leakKey, leakFileKey} {
				require.Empty(t, bus.leaks(key), "key on the bus")
				require.Empty(t, fileLeaks(t, out, key), "key in a file")
				mu.Lock()
				require.NotContains(t, logs.String(), key, "key in the logs")
				mu.Unlock()
			}
			require.NotEmpty(t, bus.leaks(""), "the recorder saw the run")
		})
	}
	require.Zero(t, stub.Stats().Failed, "every request carried the right key")
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
	stub := keyedStub(keys...)
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
