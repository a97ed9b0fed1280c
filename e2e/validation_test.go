package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// A remote validator on real processes: its max_parallel_requests holds across the two
// workers (they share its seats as they share a model's), and every row gets its result.
func TestRemoteValidatorOnTwoWorkers(t *testing.T) {
	t.Parallel()
	const n, capacity = 400, 3
	var inFlight, peak, calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond) // the endpoint's work: requests overlap when they can
		var body struct{ Data []map[string]string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := make([]map[string]any, len(body.Data))
		for i, rec := range body.Data {
			out[i] = map[string]any{"is_valid": strings.HasPrefix(rec["answer"], "yes"), "length": len(rec["answer"])}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": out})
	}))
	t.Cleanup(srv.Close)
	cfg := writeConfig(t, fmt.Sprintf(`
columns:
  - {name: answer, column_type: sampler, sampler_type: category, params: {values: ["yes, 42", "no", "yes"]}}
  - name: checked
    column_type: validation
    target_columns: [answer]
    validator_type: remote
    batch_size: 4
    validator_params: {endpoint_url: "%s", max_parallel_requests: %d}
`, srv.URL, capacity))
	ns := testbin.StartNATSServer(t)
	out := t.TempDir()
	ws, sinkd := startServices(t, ns.URL, out, 2)
	res := controller(t, "", "run", "-f", cfg, "-n", fmt.Sprint(n), "--buffer-size", "50", "--name", "v", "--nats-url", ns.URL)
	requireCode(t, 0, res, "run")

	require.LessOrEqual(t, peak.Load(), int64(capacity), "max_parallel_requests across both workers")
	require.EqualValues(t, n/50*13, calls.Load(), "one request per batch of at most 4 rows of a 50-row group")
	ds := readDataset(t, filepath.Join(out, "v"))
	require.Equal(t, n, ds.rows())
	for _, tb := range ds.Tables {
		answers := tb.column(t, "answer")
		for i, c := range tb.column(t, "checked") {
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(c.(string)), &got))
			require.Equal(t, strings.HasPrefix(answers[i].(string), "yes"), got["is_valid"])
			require.EqualValues(t, len(answers[i].(string)), got["length"])
		}
	}
	stopGracefully(t, append(ws, sinkd)...)
}
