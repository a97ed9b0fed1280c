package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// checkQuickstartBuild checks a local build of quickstart.yaml with n rows and seed under out
// and returns it.
func checkQuickstartBuild(t *testing.T, res result, out string, n int, seed uint64) dataset {
	t.Helper()
	requireCode(t, 0, res, "controller run")
	dir := filepath.Join(out, "quickstart")
	last := lastLine(res.Stderr)
	require.Regexp(t, `^run [0-9a-z]+ completed: `, last)
	require.True(t, strings.HasSuffix(last, "dataset "+dir), "last stderr line %q does not name %s", last, dir)

	ds := readDataset(t, dir)
	want := outputColumns(t, quickstartPath(t))
	require.NotContains(t, want, "helpful_votes")
	require.NotEmpty(t, ds.Batches)
	for i, b := range ds.Batches {
		require.Equal(t, fmt.Sprintf("parquet-files/batch_%05d.parquet", i), b, "batch files are numbered by group from 0")
		require.Equal(t, want, ds.Tables[i].Columns, "%s: columns (config order, dropped column absent)", b)
	}
	require.Equal(t, n, ds.rows())

	ids := map[any]bool{}
	for _, tb := range ds.Tables {
		for _, id := range tb.column(t, "review_id") {
			s, ok := id.(string)
			require.Truef(t, ok, "review_id %v is not a string", id)
			require.True(t, strings.HasPrefix(s, "rev_"), "review_id %q lacks the configured prefix", s)
			require.False(t, ids[id], "duplicate review_id %q", id)
			ids[id] = true
		}
	}
	require.Len(t, ids, n)

	m := ds.Meta
	require.Equal(t, n, m.TargetNumRecords)
	require.Equal(t, n, m.ActualNumRecords)
	require.Equal(t, len(ds.Batches), m.TotalNumBatches)
	require.Equal(t, "quickstart", m.DatasetName)
	require.Equal(t, seed, m.Seed)
	require.Equal(t, "completed", m.Outcome)
	require.NotEmpty(t, m.RunID)
	require.True(t, strings.HasPrefix(m.ConfigHash, "sha256:"), "config_hash %q", m.ConfigHash)
	require.Equal(t, ds.Batches, m.FilePaths["parquet-files"], "file_paths lists exactly the batch files that exist")
	// helpful_votes has drop: true: as in Data Designer, its values are kept beside the dataset.
	dropped := m.FilePaths["dropped-columns-parquet-files"]
	require.Len(t, dropped, len(ds.Batches))
	require.Len(t, m.FilePaths, 2)
	for _, p := range dropped {
		require.Contains(t, ds.AllFiles, p)
		require.Equal(t, []string{"helpful_votes"}, readParquet(t, filepath.Join(dir, p)).Columns)
	}

	for _, f := range ds.AllFiles {
		require.NotContains(t, f, ".tmp-", "temp file left behind")
	}
	require.Contains(t, ds.AllFiles, "builder_config.json")
	// The build is profiled beside it.
	require.Contains(t, ds.AllFiles, "report.html")
	var analysis struct {
		NumRecords int              `json:"num_records"`
		Columns    []map[string]any `json:"column_statistics"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &analysis))
	require.Equal(t, ds.rows(), analysis.NumRecords)
	require.Len(t, analysis.Columns, len(ds.Tables[0].Columns))
	var builder map[string]any
	data, err = os.ReadFile(filepath.Join(dir, "builder_config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &builder), "builder_config.json is JSON")
	return ds
}

func TestQuickstartLocalMode(t *testing.T) {
	t.Parallel()
	const n = 1000
	const seed = 42

	// Both subtests build the same dataset (N 1000, seed 42); they must agree row for row.
	// They run one after the other (each takes well under a second) so that the comparison
	// can follow them.
	var direct, viaMake dataset

	okDirect := t.Run("controller run", func(t *testing.T) {
		out, cwd := t.TempDir(), t.TempDir()
		res := controller(t, cwd, "run", "-f", quickstartPath(t), "-n", fmt.Sprint(n), "--seed", fmt.Sprint(seed), "--out", out)
		direct = checkQuickstartBuild(t, res, out, n, seed)
		requireEmptyDir(t, cwd, "a run with --out writes nothing in the working directory")
	})

	// `make run` itself is not invoked: its prerequisite `build` rewrites bin/, which the
	// other tests (and, under `make test`, the other packages' tests) are executing at the
	// same time, and make test would be running make recursively. Instead `make -n` (dry run:
	// it executes no recipe) prints the commands of the run target; the test takes the
	// controller command line from that output and runs exactly it, from the repository root
	// as make would, with only the binary resolved through testbin (which is bin/ under make
	// test). So a change to the Makefile's run line is what this test runs.
	okMake := t.Run("make run", func(t *testing.T) {
		makeBin, err := exec.LookPath("make")
		if err != nil {
			t.Skip("make is not installed")
		}
		root := testbin.RepoRoot(t)
		out := t.TempDir()
		// Without the outer make's flags (under make test they name its jobserver), and without
		// variables that would override the run target's defaults (make's ?= takes them from
		// the environment).
		env := envWithout("NATS_URL", "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "MAKELEVEL", "EXAMPLE", "N", "OUT", "SEED")
		dry := runCommandEnv(t, root, env, makeBin, "-n", "--no-print-directory", "-C", root, "run", "OUT="+out)
		requireCode(t, 0, dry, "make -n run")
		var args []string
		sc := bufio.NewScanner(strings.NewReader(dry.Stdout))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "bin/controller" {
				require.Nil(t, args, "make -n run prints one controller command:\n%s", dry.Stdout)
				args = f[1:]
			}
		}
		require.NotNilf(t, args, "no bin/controller command in `make -n run`:\n%s", dry.Stdout)
		require.Equal(t, []string{"run", "-f", "examples/quickstart.yaml", "-n", "1000", "--out", out, "--seed", "42"}, args,
			"the run target's command line with its defaults (EXAMPLE, N, SEED) and OUT")
		require.False(t, slices.Contains(args, "--nats-url"), "make run is local mode")

		res := runCommand(t, root, testbin.Binary(t, "controller"), args...)
		viaMake = checkQuickstartBuild(t, res, out, n, seed)
	})

	if okDirect && okMake && viaMake.Dir != "" { // viaMake is empty when make is missing
		require.Equal(t, direct.Tables, viaMake.Tables, "same config, N and seed give the same rows")
		require.Equal(t, direct.Meta.ConfigHash, viaMake.Meta.ConfigHash)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	t.Parallel()
	cols := outputColumns(t, quickstartPath(t))
	var fromJSON, fromTable []string

	okJSON := t.Run("json", func(t *testing.T) {
		cwd := t.TempDir()
		res := controller(t, cwd, "preview", "-f", quickstartPath(t), "-n", "7", "--seed", "3", "--json")
		requireCode(t, 0, res, "controller preview --json")
		lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
		require.Len(t, lines, 7, "stdout:\n%s", res.Stdout)
		var got []string
		for _, line := range lines {
			var rec map[string]any
			require.NoErrorf(t, json.Unmarshal([]byte(line), &rec), "line %q is not a JSON object", line)
			keys := make([]string, 0, len(rec))
			for k := range rec {
				keys = append(keys, k)
			}
			require.ElementsMatch(t, cols, keys, "line %q", line)
			id, ok := rec["review_id"].(string)
			require.True(t, ok)
			got = append(got, id)
		}
		require.Contains(t, lastLine(res.Stderr), "records previewed")
		requireEmptyDir(t, cwd, "preview writes no files")
		fromJSON = got
	})

	okTable := t.Run("table", func(t *testing.T) {
		cwd := t.TempDir()
		res := controller(t, cwd, "preview", "-f", quickstartPath(t), "-n", "7", "--seed", "3")
		requireCode(t, 0, res, "controller preview")
		lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
		require.Len(t, lines, 1+7, "a header and 7 rows; stdout:\n%s", res.Stdout)
		require.Equal(t, cols, strings.Fields(lines[0]), "header")
		var got []string
		for _, line := range lines[1:] {
			got = append(got, strings.Fields(line)[0]) // review_id is the first column, short enough not to be cut
		}
		requireEmptyDir(t, cwd, "preview writes no files")
		fromTable = got
	})

	if okJSON && okTable {
		require.Equal(t, fromJSON, fromTable, "the same seed previews the same records in both forms")
	}
}

// requireEmptyDir fails the test, saying why (what), unless dir has no entries.
func requireEmptyDir(t *testing.T, dir, what string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Empty(t, names, "%s (folder %s)", what, dir)
}
