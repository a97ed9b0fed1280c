package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// smallPayloadServer starts a real nats-server whose max payload is maxPayload bytes, so
// that message bodies above it go through the rf_payloads object store.
func smallPayloadServer(t *testing.T, maxPayload int) *testbin.Process {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "nats-server.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "max_payload: %d\n", maxPayload), 0o644))
	return testbin.StartNATSServer(t, "-c", conf)
}

func TestDistributedMatchesLocal(t *testing.T) {
	t.Parallel()
	const (
		n          = 20000
		bufferSize = 5000
		seed       = 7
	)
	// A 5000-row group of quickstart is about 0.4 MiB on the wire (prepared groups ~340 KiB,
	// worker outcomes ~420 KiB), under the default 1 MiB max payload: with a default server
	// nothing would be offloaded. The server gets a 256 KiB max payload so that every group
	// body (prepared, outcome, sink) takes the object-store path, which the test checks below.
	// The local-mode run keeps its embedded server's default, so the two runs also compare
	// the offloaded path with the inline one.
	ns := smallPayloadServer(t, 256<<10)
	outA := t.TempDir()
	workers, sinkd := startServices(t, ns.URL, outA, 2)

	common := []string{"run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--buffer-size", fmt.Sprint(bufferSize), "--seed", fmt.Sprint(seed)}
	dist := controller(t, "", append(common, "--nats-url", ns.URL)...)
	requireCode(t, 0, dist, "distributed controller run")
	dirA := filepath.Join(outA, "quickstart")
	require.Truef(t, strings.HasSuffix(lastLine(dist.Stderr), "dataset "+dirA),
		"the controller reports sinkd's dataset folder; last line: %q", lastLine(dist.Stderr))
	require.Contains(t, lastLine(dist.Stderr), fmt.Sprintf("completed: %d of %d records in %d groups (0 groups dropped)", n, n, n/bufferSize))
	// Its progress comes from the worker processes' reports over NATS: the last line (not a
	// terminal: lines) counts every cell of every column.
	require.Contains(t, dist.Stderr, fmt.Sprintf("msg=progress rows_done=%d/%d groups=%d/%d cells.sentiment=%d/%d cells.title=%d/%d cells.popular=%d/%d",
		n, n, n/bufferSize, n/bufferSize, n, n, n, n, n, n))

	js := connect(t, ns.URL)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	objs, err := js.Stream(ctx, "OBJ_rf_payloads")
	require.NoError(t, err)
	info, err := objs.Info(ctx)
	require.NoError(t, err)
	require.NotZero(t, info.State.LastSeq, "group bodies over the max payload went through the object store")

	outB := t.TempDir()
	local := controller(t, "", append(common, "--out", outB)...)
	requireCode(t, 0, local, "local controller run")

	a, b := readDataset(t, dirA), readDataset(t, filepath.Join(outB, "quickstart"))
	require.Equal(t, b.AllFiles, a.AllFiles, "same files")
	require.Len(t, a.Batches, n/bufferSize)
	require.Equal(t, n, a.rows())
	for i := range a.Batches {
		ta, tb := a.Tables[i], b.Tables[i]
		require.Equal(t, tb.Columns, ta.Columns, "%s: columns", a.Batches[i])
		require.Len(t, ta.Rows, bufferSize, "%s: rows", a.Batches[i])
		require.Len(t, tb.Rows, bufferSize, "%s: rows", b.Batches[i])
		for r := range ta.Rows {
			require.Equal(t, tb.Rows[r], ta.Rows[r], "%s row %d (columns %v): distributed versus local", a.Batches[i], r, ta.Columns)
		}
	}

	// The metadata agree on everything but the run id.
	ma, mb := a.Meta, b.Meta
	require.NotEqual(t, ma.RunID, mb.RunID)
	ma.RunID, mb.RunID = "", ""
	require.Equal(t, mb, ma, "metadata.json")
	require.Equal(t, n, ma.ActualNumRecords)
	require.Equal(t, bufferSize, ma.BufferSize)
	require.JSONEq(t, readString(t, filepath.Join(b.Dir, "builder_config.json")),
		readString(t, filepath.Join(a.Dir, "builder_config.json")), "builder_config.json")

	stopGracefully(t, append(workers, sinkd)...)
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, json.Valid(data), "%s is not JSON", path)
	return string(data)
}
