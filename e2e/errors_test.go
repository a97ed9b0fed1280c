package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// invalidConfigs are configs the controller must refuse before it touches the deployment.
// want lists substrings of the error line: the culprit column (quoted as the product quotes
// it) and what is wrong.
var invalidConfigs = []struct {
	name   string
	config string
	want   []string
}{
	{
		name: "unknown reference",
		config: `columns:
  - name: price
    column_type: sampler
    sampler_type: uniform
    params: {low: 1, high: 2}
  - name: label
    column_type: expression
    expr: "{{ nope }} costs {{ price }}"
`,
		want: []string{`column "label"`, `unknown reference "nope"`},
	},
	{
		name: "cycle",
		config: `columns:
  - name: a
    column_type: expression
    expr: "{{ b }}!"
  - name: b
    column_type: expression
    expr: "{{ a }}?"
`,
		want: []string{`column "a"`, "cycle", "a -> b -> a"},
	},
	{
		name: "duplicate column",
		config: `columns:
  - name: score
    column_type: sampler
    sampler_type: uniform
    params: {low: 0, high: 1}
  - name: score
    column_type: sampler
    sampler_type: bernoulli
    params: {p: 0.5}
`,
		want: []string{`column "score"`, "duplicate"},
	},
	{
		name: "unknown column_type",
		config: `columns:
  - name: mystery
    column_type: bogus
`,
		want: []string{`column "mystery"`, "column_type", `"bogus"`},
	},
	{
		name: "uniform without high",
		config: `columns:
  - name: price
    column_type: sampler
    sampler_type: uniform
    params: {low: 5}
`,
		want: []string{`column "price"`, "params.high", "required"},
	},
	{
		name: "uniform low above high",
		config: `columns:
  - name: price
    column_type: sampler
    sampler_type: uniform
    params: {low: 10, high: 1}
`,
		want: []string{`column "price"`, "params.high"},
	},
	{
		name: "category weights of the wrong length",
		config: `columns:
  - name: color
    column_type: sampler
    sampler_type: category
    params: {values: [red, green, blue], weights: [1, 2]}
`,
		want: []string{`column "color"`, "params.weights"},
	},
	{
		name:   "no columns",
		config: "columns: []\n",
		want:   []string{"no columns"},
	},
	{
		name: "YAML syntax error",
		config: `columns:
  - name: a
    column_type: sampler
    sampler_type: uniform
    params: {low: 1, high: 2
`,
		want: []string{"invalid YAML"},
	},
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestInvalidConfigs(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidConfigs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A server per case, so that a case that creates streams is the one that fails.
			ns := testbin.StartNATSServer(t)
			res := controller(t, "", "run", "-f", writeConfig(t, tc.config), "-n", "10", "--nats-url", ns.URL)
			requireCode(t, 2, res, "controller run")
			require.True(t, strings.HasPrefix(res.Stderr, "config error:"), "stderr: %q", res.Stderr)
			require.Equal(t, 1, strings.Count(strings.TrimSuffix(res.Stderr, "\n"), "\n")+1, "one stderr line: %q", res.Stderr)
			for _, w := range tc.want {
				require.Contains(t, res.Stderr, w)
			}
			require.Empty(t, res.Stdout)
			require.Empty(t, streamNames(t, connect(t, ns.URL)), "an invalid config creates nothing on the server")
		})
	}

	t.Run("validate", func(t *testing.T) {
		t.Parallel()
		bad := controller(t, "", "validate", "-f", writeConfig(t, invalidConfigs[1].config))
		requireCode(t, 2, bad, "controller validate (cycle)")
		require.True(t, strings.HasPrefix(bad.Stderr, "config error:"), "stderr: %q", bad.Stderr)
		require.Contains(t, bad.Stderr, "a -> b -> a")

		good := controller(t, "", "validate", "-f", quickstartPath(t))
		requireCode(t, 0, good, "controller validate quickstart")
		lines := strings.Split(strings.TrimSuffix(good.Stdout, "\n"), "\n")
		var order []string
		for _, line := range lines[1:] { // after the header
			f := strings.Fields(line)
			require.GreaterOrEqual(t, len(f), 2, "line %q", line)
			order = append(order, f[1])
		}
		// Every column of the config, the dropped one included, once.
		all := append(outputColumns(t, quickstartPath(t)), "helpful_votes")
		require.ElementsMatch(t, all, order, "validate lists every column:\n%s", good.Stdout)
		before := func(a, b string) {
			require.Less(t, slices.Index(order, a), slices.Index(order, b), "%s is listed before %s:\n%s", a, b, good.Stdout)
		}
		before("rating", "sentiment")
		before("category", "product")
		before("product", "title")
		before("verified_purchase", "title")
		before("helpful_votes", "popular")
	})
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		bin  string
		args []string
	}{
		{"run without -f", "controller", []string{"run"}},
		{"run without -n", "controller", []string{"run", "-f", "x.yaml"}},
		{"run with -n 0", "controller", []string{"run", "-f", "x.yaml", "-n", "0"}},
		{"unknown command", "controller", []string{"bogus"}},
		{"unknown flag", "controller", []string{"run", "-f", "x.yaml", "-n", "5", "--bogus"}},
		{"stray argument", "controller", []string{"run", "-f", "x.yaml", "-n", "5", "extra"}},
		{"validate without -f", "controller", []string{"validate"}},
		{"resume without a run id", "controller", []string{"resume"}},
		{"resume without a server", "controller", []string{"resume", "0123456789ab"}},
		{"worker without a server", "worker", nil},
		{"sinkd without a server", "sinkd", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cwd := t.TempDir()
			res := runCommand(t, cwd, testbin.Binary(t, tc.bin), tc.args...)
			requireCode(t, 2, res, tc.bin+" "+strings.Join(tc.args, " "))
			require.True(t, strings.HasPrefix(res.Stderr, "usage error:"), "stderr: %q", res.Stderr)
			requireEmptyDir(t, cwd, "a usage error writes nothing")
		})
	}
}
