// Package e2e runs rowforge's real binaries (controller, worker, sinkd) against real
// nats-server processes and reads the Parquet they write back with an independent reader
// (github.com/parquet-go/parquet-go, not the arrow writer's own library).
//
// The binaries come from internal/testbin: $ROWFORGE_BIN and $ROWFORGE_TOOLS when set (make
// test sets them), built on demand otherwise.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/rowforge/rowforge/internal/testbin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// cmdTimeout bounds one run of a command that is expected to exit by itself. It is a
	// safety net against hangs, not a performance assertion.
	cmdTimeout = 90 * time.Second
	// waitTimeout bounds waiting for a service to be ready or to log something.
	waitTimeout = 30 * time.Second
	// runTimeout bounds a run started in the background, a fault test's included: 60,000 rows
	// with a process killed, which may wait out an AckWait of a minute. Like cmdTimeout, it
	// turns a hang into a failure of the test that hung, with every process's output.
	runTimeout = 5 * time.Minute
)

// result is what a command that ran to its end left behind.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// runCommand runs bin with args in dir (a fresh temp dir when dir is empty) until it exits and
// returns its exit code and output.
//
// One-shot commands do not go through testbin.StartProcess, which merges stdout and stderr
// and always passes the test's whole environment: these tests need stdout apart from stderr
// (JSON lines versus logs, "the stderr line starts with"), a chosen working directory, and
// NATS_URL removed from the environment (with it, the controller would leave local mode).
// Long-running services (nats-server, worker, sinkd) do use testbin.
func runCommand(t *testing.T, dir, bin string, args ...string) result {
	t.Helper()
	return runCommandEnv(t, dir, envWithout("NATS_URL"), bin, args...)
}

// runCommandEnv is runCommand with the child's whole environment given.
func runCommandEnv(t *testing.T, dir string, env []string, bin string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		res.Code = exitErr.ExitCode()
	default:
		t.Fatalf("%s %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s",
			bin, strings.Join(args, " "), err, ctx.Err(), res.Stdout, res.Stderr)
	}
	return res
}

// controller runs the controller binary with args in dir (see runCommand).
func controller(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return runCommand(t, dir, testbin.Binary(t, "controller"), args...)
}

// requireCode fails the test with the command's output unless it exited with want.
func requireCode(t *testing.T, want int, res result, what string) {
	t.Helper()
	require.Equalf(t, want, res.Code, "%s: exit code\nstdout:\n%s\nstderr:\n%s", what, res.Stdout, res.Stderr)
}

// envWithout returns the test's environment without the named variables.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

// quickstartPath is the absolute path of examples/quickstart.yaml.
func quickstartPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(testbin.RepoRoot(t), "examples", "quickstart.yaml")
}

// outputColumns parses a config file on its own (not with pkg/config, whose behaviour is
// under test) and returns the names of its columns in config order, without those marked
// drop: true: the columns a dataset must have.
func outputColumns(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Columns []struct {
			Name string `yaml:"name"`
			Drop bool   `yaml:"drop"`
		} `yaml:"columns"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	var cols []string
	for _, c := range doc.Columns {
		if !c.Drop {
			cols = append(cols, c.Name)
		}
	}
	require.NotEmpty(t, cols)
	return cols
}

// table is the content of a Parquet file: its leaf columns and its rows, each value a Go
// value (nil, bool, int64, float64 or string).
type table struct {
	Columns []string
	Rows    [][]any
}

// readParquet reads a Parquet file with parquet-go.
func readParquet(t *testing.T, path string) table {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	pf, err := parquet.OpenFile(f, st.Size())
	require.NoErrorf(t, err, "open %s as Parquet", path)

	var tb table
	for _, c := range pf.Schema().Columns() {
		require.Lenf(t, c, 1, "%s: column %v is nested; rowforge writes flat files", path, c)
		tb.Columns = append(tb.Columns, c[0])
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	buf := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			vals := make([]any, len(tb.Columns))
			for _, v := range row {
				vals[v.Column()] = goValue(t, v)
			}
			tb.Rows = append(tb.Rows, vals)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoErrorf(t, err, "read rows of %s", path)
		if n == 0 {
			break
		}
	}
	require.EqualValuesf(t, pf.NumRows(), len(tb.Rows), "%s: rows read versus the footer's count", path)
	return tb
}

func goValue(t *testing.T, v parquet.Value) any {
	t.Helper()
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		return int64(v.Int32())
	case parquet.Int64:
		return v.Int64()
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray()) // copies: the reader reuses its buffers
	default:
		t.Fatalf("unexpected Parquet value kind %v", v.Kind())
		return nil
	}
}

// column returns the values of the named column.
func (tb table) column(t *testing.T, name string) []any {
	t.Helper()
	i := slices.Index(tb.Columns, name)
	require.GreaterOrEqualf(t, i, 0, "no column %q in %v", name, tb.Columns)
	out := make([]any, len(tb.Rows))
	for r, row := range tb.Rows {
		out[r] = row[i]
	}
	return out
}

// metadata is metadata.json of a build.
type metadata struct {
	TargetNumRecords int                 `json:"target_num_records"`
	ActualNumRecords int                 `json:"actual_num_records"`
	TotalNumBatches  int                 `json:"total_num_batches"`
	BufferSize       int                 `json:"buffer_size"`
	DatasetName      string              `json:"dataset_name"`
	FilePaths        map[string][]string `json:"file_paths"`
	ConfigHash       string              `json:"config_hash"`
	RunID            string              `json:"run_id"`
	Seed             uint64              `json:"seed"`
	Outcome          string              `json:"outcome"`
	ModelUsage       map[string]struct {
		Requests         int64 `json:"requests"`
		Failed           int64 `json:"failed"`
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"model_usage"`
}

// dataset is a dataset folder read back: its metadata and its batch files in order.
type dataset struct {
	Dir      string
	Meta     metadata
	Batches  []string // paths relative to Dir, sorted
	Tables   []table  // one per batch file, same order
	AllFiles []string // every file under Dir, relative, sorted
}

// readDataset reads <dir>/metadata.json and every parquet-files/batch_*.parquet.
func readDataset(t *testing.T, dir string) dataset {
	t.Helper()
	ds := dataset{Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoErrorf(t, dec.Decode(&ds.Meta), "metadata.json:\n%s", data)

	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		ds.AllFiles = append(ds.AllFiles, filepath.ToSlash(rel))
		return nil
	}))
	slices.Sort(ds.AllFiles)
	matches, err := filepath.Glob(filepath.Join(dir, "parquet-files", "*.parquet"))
	require.NoError(t, err)
	for _, m := range matches {
		rel, err := filepath.Rel(dir, m)
		require.NoError(t, err)
		ds.Batches = append(ds.Batches, filepath.ToSlash(rel))
	}
	slices.Sort(ds.Batches)
	for _, b := range ds.Batches {
		ds.Tables = append(ds.Tables, readParquet(t, filepath.Join(dir, b)))
	}
	return ds
}

// rows returns the number of rows over every batch file.
func (ds dataset) rows() int {
	n := 0
	for _, tb := range ds.Tables {
		n += len(tb.Rows)
	}
	return n
}

// connect opens a NATS connection for the test (closed at its end) and a JetStream handle.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	opts := []nats.Option{nats.Name("e2e-test")}
	// A user of deploy/nats/accounts.conf may subscribe to its role's replies only.
	if u, err := neturl.Parse(url); err == nil && u.User != nil && slices.Contains(natsconfRoles, u.User.Username()) {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+u.User.Username()))
	}
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// streamNames lists every stream of the server (KV and object store buckets included).
func streamNames(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var names []string
	lister := js.StreamNames(ctx)
	for name := range lister.Name() {
		names = append(names, name)
	}
	require.NoError(t, lister.Err())
	return names
}

// waitForStreams polls until every named stream exists (the services create them on start),
// failing the test after waitTimeout.
func waitForStreams(t *testing.T, js jetstream.JetStream, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for _, name := range names {
		for {
			// Each lookup has its own deadline: on a busy cluster one request can go unanswered.
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Stream(actx, name)
			acancel()
			if err == nil {
				break
			}
			require.Truef(t, errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, context.DeadlineExceeded),
				"look up stream %s: %v", name, err)
			select {
			case <-ctx.Done():
				t.Fatalf("stream %s does not exist after %v: %v", name, waitTimeout, err)
			case <-poll.C:
			}
		}
	}
}

// setupDeployment runs controller setup on url with the extra client flags (--replicas,
// --prefix ...): workers and sinkd only look the deployment up and wait until it exists.
func setupDeployment(t *testing.T, url string, clientArgs ...string) {
	t.Helper()
	res := controller(t, "", append([]string{"setup", "--nats-url", url}, clientArgs...)...)
	requireCode(t, 0, res, "controller setup")
}

// startServices sets the deployment up and starts n workers and one sinkd writing under out,
// as separate processes, all with the extra client flags in workerArgs (--replicas and --prefix
// must agree in a deployment), and waits until they consume: the streams exist and each has
// logged its start line (which it logs once its consumer and, for a worker, its control
// subscription are in place).
func startServices(t *testing.T, url, out string, workers int, workerArgs ...string) (ws []*testbin.Process, sinkd *testbin.Process) {
	t.Helper()
	setupDeployment(t, url, workerArgs...)
	workerBin := testbin.Binary(t, "worker")
	for range workers {
		ws = append(ws, testbin.StartProcess(t, workerBin, append([]string{"--nats-url", url}, workerArgs...), nil))
	}
	sinkd = testbin.StartProcess(t, testbin.Binary(t, "sinkd"), append([]string{"--nats-url", url, "--out", out}, workerArgs...), nil)

	waitForStreams(t, connect(t, url), "RF_GROUPS", "RF_OUTCOMES", "RF_SINK")
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for _, w := range ws {
		require.NoError(t, w.Output.WaitFor(ctx, "worker started"))
	}
	require.NoError(t, sinkd.Output.WaitFor(ctx, "sinkd started"))
	return ws, sinkd
}

// stopGracefully sends SIGTERM to each process and requires a clean exit (status 0).
func stopGracefully(t *testing.T, procs ...*testbin.Process) {
	t.Helper()
	for _, p := range procs {
		require.NoErrorf(t, p.Stop(), "exit status after SIGTERM of %s; output:\n%s", p.Cmd.Path, p.Output.String())
	}
}

// waitExit waits up to timeout for p, a process expected to exit by itself, and returns its
// exit result (see testbin.Process.Wait). If p is still running then, the test fails, after
// logging what the deployment js reaches still holds (when js is not nil): which messages a
// hang left pending, unacknowledged or redelivered, and where.
func waitExit(t *testing.T, p *testbin.Process, timeout time.Duration, js jetstream.JetStream) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	err := p.WaitContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		if js != nil {
			logConsumers(t, js)
		}
		t.Fatalf("%v after %v; its output:\n%s", err, timeout, p.Output.String())
	}
	return err
}

// logConsumers logs the state of every stream and consumer js reaches, as far as it answers.
func logConsumers(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), waitTimeout)
	defer cancel()
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		t.Logf("stream %s: %d messages, seq %d..%d", info.Config.Name, info.State.Msgs, info.State.FirstSeq, info.State.LastSeq)
		s, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Logf("  %v", err)
			continue
		}
		consumers := s.ListConsumers(ctx)
		for c := range consumers.Info() {
			t.Logf("  consumer %s: delivered %d, ack floor %d, pending %d, ack pending %d, redelivered %d, waiting %d",
				c.Name, c.Delivered.Stream, c.AckFloor.Stream, c.NumPending, c.NumAckPending, c.NumRedelivered, c.NumWaiting)
		}
		if err := consumers.Err(); err != nil {
			t.Logf("  list consumers: %v", err)
		}
	}
	if err := streams.Err(); err != nil {
		t.Logf("list streams: %v", err)
	}
}
