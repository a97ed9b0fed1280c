package generators

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// validate runs a validation column of yaml (named v) over rows of column code.
func validate(t *testing.T, yaml string, opts ValidationOptions, code ...string) ([]map[string]any, map[int]error) {
	t.Helper()
	cfg, err := config.Parse([]byte("columns:\n  - {name: code, column_type: sampler, sampler_type: uuid}\n  - " + yaml))
	require.NoError(t, err)
	g, err := Validation(cfg.Column("v"), opts)
	require.NoError(t, err)
	f := frame.New(len(code))
	require.NoError(t, f.Put(&frame.Column{Name: "code", Type: frame.String, Strings: code}))
	rows := make([]int, len(code))
	for i := range rows {
		rows[i] = i
	}
	col, rowErrs, err := g.Column(t.Context(), f, rows)
	require.NoError(t, err)
	out := make([]map[string]any, len(code))
	for i := range code {
		if col.IsNull(i) {
			continue
		}
		require.NoError(t, json.Unmarshal([]byte(col.Strings[i]), &out[i]))
	}
	return out, rowErrs
}

func TestPythonValidator(t *testing.T) {
	t.Parallel()
	if _, err := lookPath("ruff"); err != nil {
		if _, err := lookPath("pylint"); err != nil {
			t.Skip("neither ruff nor pylint is on PATH")
		}
	}
	out, rowErrs := validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: code, validator_params: {code_lang: python}, batch_size: 2}`,
		ValidationOptions{}, "def f(x):\n    return x + 1\n", "def f(:\n", "import os\n")
	require.Empty(t, rowErrs)
	require.Equal(t, true, out[0]["is_valid"])
	require.Equal(t, 10.0, out[0]["python_linter_score"])
	require.Equal(t, "none", out[0]["python_linter_severity"])
	require.Equal(t, false, out[1]["is_valid"], "a syntax error")
	require.Contains(t, []any{"fatal", "error"}, out[1]["python_linter_severity"])
	require.Equal(t, 0.0, out[1]["python_linter_score"])
	require.NotEmpty(t, out[2]["python_linter_messages"], "an unused import is reported")
}

func TestCodeValidatorNeedsItsProgram(t *testing.T) {
	old := lookPath
	lookPath = func(string) (string, error) { return "", errors.New("not found") }
	t.Cleanup(func() { lookPath = old })
	cfg, err := config.Parse([]byte(`columns:
  - {name: code, column_type: sampler, sampler_type: uuid}
  - {name: v, column_type: validation, target_columns: [code], validator_type: code, validator_params: {code_lang: python}}
  - {name: w, column_type: validation, target_columns: [code], validator_type: code, validator_params: {code_lang: "sql:postgres"}}`))
	require.NoError(t, err)
	_, err = Validation(cfg.Column("v"), ValidationOptions{})
	require.ErrorContains(t, err, `column "v"`)
	require.ErrorContains(t, err, "ruff")
	require.ErrorContains(t, err, "pylint")
	_, err = Validation(cfg.Column("w"), ValidationOptions{})
	require.ErrorContains(t, err, "sqlfluff")
}

func TestSQLValidators(t *testing.T) {
	t.Parallel()
	if _, err := lookPath("sqlfluff"); err != nil {
		t.Skip("sqlfluff is not on PATH")
	}
	out, rowErrs := validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: code, validator_params: {code_lang: "sql:mysql"}}`,
		ValidationOptions{}, "SELECT a, COUNT(*) FROM t WHERE b > 1 GROUP BY a\n", "SELEC a FRM t\n", "CREATE TABLE t (x DECIMAL(10))\n")
	require.Empty(t, rowErrs)
	require.Equal(t, map[string]any{"is_valid": true, "error_messages": ""}, out[0])
	require.Equal(t, false, out[1]["is_valid"])
	require.Contains(t, out[1]["error_messages"], "PRS")
	require.Equal(t, false, out[2]["is_valid"], "Data Designer's own check: DECIMAL without a scale")

	out, rowErrs = validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: code, validator_params: {code_lang: "sql:postgres"}}`,
		ValidationOptions{}, "SELECT a::int FROM t\n", "SELECT FROM WHERE (\n")
	require.Empty(t, rowErrs)
	require.Equal(t, true, out[0]["is_valid"], "%v", out[0])
	require.Equal(t, false, out[1]["is_valid"])
	require.Contains(t, out[1]["error_messages"], "PRS")
}

func TestLocalCallableValidatorProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := filepath.Join(dir, "check.sh")
	// Valid when the value is longer than 3 characters.
	require.NoError(t, os.WriteFile(prog, []byte(`#!/bin/sh
while IFS= read -r line; do
  n=$(printf '%s' "$line" | sed 's/.*"code":"\([^"]*\)".*/\1/' | wc -c)
  if [ "$n" -gt 3 ]; then echo '{"is_valid": true, "length": '$n'}'; else echo '{"is_valid": false, "length": '$n'}'; fi
done
`), 0o755))
	out, rowErrs := validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: local_callable, validator_params: {command: [`+prog+`]}, batch_size: 2}`,
		ValidationOptions{}, "long", "no", "longer")
	require.Empty(t, rowErrs)
	require.Equal(t, []any{true, false, true}, []any{out[0]["is_valid"], out[1]["is_valid"], out[2]["is_valid"]})
	require.Equal(t, 4.0, out[0]["length"])

	bad := filepath.Join(dir, "bad.sh")
	require.NoError(t, os.WriteFile(bad, []byte("#!/bin/sh\ncat >/dev/null; echo 'not json'\n"), 0o755))
	_, rowErrs = validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: local_callable, validator_params: {command: [`+bad+`]}}`,
		ValidationOptions{}, "a", "b")
	require.Len(t, rowErrs, 2, "a batch the program answers with garbage drops its rows")
	require.ErrorContains(t, rowErrs[0], `column "v": local_callable validator`)
}

func TestRemoteValidator(t *testing.T) {
	t.Parallel()
	var calls, inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		if n%3 == 0 { // every third request fails once: retried
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var body struct{ Data []map[string]string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var out []map[string]any
		for _, rec := range body.Data {
			out = append(out, map[string]any{"is_valid": strings.HasPrefix(rec["code"], "ok"), "checked": rec["code"]})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": out})
	}))
	t.Cleanup(srv.Close)
	rows := make([]string, 40)
	for i := range rows {
		rows[i] = "ok" + strings.Repeat("x", i%3)
		if i%4 == 0 {
			rows[i] = "bad"
		}
	}
	out, rowErrs := validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: remote, batch_size: 3,
      validator_params: {endpoint_url: "`+srv.URL+`", max_parallel_requests: 2, retry_backoff: 1.5,
        output_schema: {type: object, required: [data]}}}`, ValidationOptions{Backoff: 0.001}, rows...)
	require.Empty(t, rowErrs)
	for i, r := range rows {
		require.Equal(t, strings.HasPrefix(r, "ok"), out[i]["is_valid"], r)
		require.Equal(t, r, out[i]["checked"])
	}
	require.LessOrEqual(t, peak.Load(), int64(2), "max_parallel_requests")

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	_, rowErrs = validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: remote,
      validator_params: {endpoint_url: "`+down.URL+`", max_retries: 2}}`, ValidationOptions{Backoff: 0.001}, "a", "b")
	require.Len(t, rowErrs, 2, "an endpoint down after its retries drops the rows")
	require.ErrorContains(t, rowErrs[0], "502 Bad Gateway (after 3 attempts)")

	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>oops</html>"))
	}))
	t.Cleanup(garbage.Close)
	_, rowErrs = validate(t, `{name: v, column_type: validation, target_columns: [code], validator_type: remote,
      validator_params: {endpoint_url: "`+garbage.URL+`"}}`, ValidationOptions{Backoff: 0.001}, "a")
	require.ErrorContains(t, rowErrs[0], "answered what is not JSON")
}
