package processors

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// binDir holds the programs the tests build, once per test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "processors-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

var (
	upperOnce sync.Once
	upperPath string
	upperErr  error
)

// upperBin builds testdata/upper once per test binary and returns its path.
func upperBin(t *testing.T) string {
	t.Helper()
	upperOnce.Do(func() {
		path := filepath.Join(binDir, "upper")
		out, err := exec.Command("go", "build", "-o", path, "./testdata/upper").CombinedOutput()
		if err != nil {
			upperErr = fmt.Errorf("go build ./testdata/upper: %v\n%s", err, out)
			return
		}
		upperPath = path
	})
	require.NoError(t, upperErr)
	return upperPath
}

const testColumns = `
columns:
  - {name: name, column_type: sampler, sampler_type: category, params: {values: [ann, bob]}}
  - {name: n, column_type: sampler, sampler_type: category, params: {values: [1, 2]}}
  - {name: score, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - {name: ok, column_type: expression, expr: "{{ n > 1 }}", dtype: bool}
  - {name: tmp_a, column_type: sampler, sampler_type: uuid}
  - {name: tmp_b, column_type: sampler, sampler_type: uuid}
`

// build parses testColumns with the given processors section and builds its processors.
func build(t *testing.T, processors string) []Processor {
	t.Helper()
	return buildWith(t, processors, nil)
}

func buildWith(t *testing.T, processors string, nc *nats.Conn) []Processor {
	t.Helper()
	cfg, err := config.Parse([]byte(testColumns + processors))
	require.NoError(t, err)
	procs, err := FromConfig(cfg, nc)
	require.NoError(t, err)
	return procs
}

// one builds the single processor of a processors section.
func one(t *testing.T, processors string) Processor {
	t.Helper()
	procs := build(t, processors)
	require.Len(t, procs, 1)
	return procs[0]
}

// testGroup is a row group with every column of testColumns and a null in each typed column.
func testGroup(t *testing.T) *frame.Frame {
	t.Helper()
	return makeFrame(t,
		col("name", frame.String, "ann", "bob", nil),
		col("n", frame.Int, int64(1), int64(2), nil),
		col("score", frame.Float, 0.5, 2.0, nil),
		col("ok", frame.Bool, false, true, nil),
		col("tmp_a", frame.String, "a0", "a1", "a2"),
		col("tmp_b", frame.String, "b0", "b1", "b2"),
	)
}

// column is a column spelled out for tests: name, type and values (nil for a null).
type column struct {
	Name   string
	Type   frame.Type
	Values []any
}

func col(name string, t frame.Type, values ...any) column {
	return column{Name: name, Type: t, Values: values}
}

func makeFrame(t *testing.T, cols ...column) *frame.Frame {
	t.Helper()
	n := 0
	if len(cols) > 0 {
		n = len(cols[0].Values)
	}
	f := frame.New(n)
	for _, c := range cols {
		fc := frame.NewColumn(c.Name, c.Type, len(c.Values))
		for i, v := range c.Values {
			require.NoError(t, fc.Set(i, v))
		}
		require.NoError(t, f.Put(fc))
	}
	return f
}

// columns spells a frame out for comparison.
func columns(f *frame.Frame) []column {
	var out []column
	for _, c := range f.Columns() {
		vals := make([]any, f.Len())
		for i := range vals {
			vals[i] = c.Value(i)
		}
		out = append(out, column{Name: c.Name, Type: c.Type, Values: vals})
	}
	return out
}

func process(t *testing.T, p Processor, in *frame.Frame) (Result, error) {
	t.Helper()
	return Run(context.Background(), p, 7, in)
}
