package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

// scrape returns the value of one series of a /metrics page (0 when absent).
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

// get returns the status and body of a GET.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// The worker's and sinkd's endpoints: alive and not ready while they wait for `controller
// setup`, ready once they consume; /metrics, scraped during a run and after it, shows the
// groups and cells counters moving.
func TestMetricsMoveDuringARun(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	wport, sport := testbin.FreePort(t), testbin.FreePort(t)
	w := testbin.StartProcess(t, testbin.Binary(t, "worker"), []string{"--nats-url", srv.URL,
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", wport)}, nil)
	s := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", srv.URL, "--out", out,
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", sport)}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for p, port := range map[*testbin.Process]int{w: wport, s: sport} {
		require.NoError(t, p.Output.WaitFor(ctx, "serving /metrics"))
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		code, body := get(t, base+"/livez")
		require.Equal(t, http.StatusOK, code, "alive before the deployment is set up")
		code, body = get(t, base+"/healthz")
		require.Equal(t, http.StatusServiceUnavailable, code, "not ready before the deployment is set up")
		require.Contains(t, body, "waiting for the deployment")
	}
	setupDeployment(t, srv.URL)
	for _, p := range []*testbin.Process{w, s} {
		require.NoError(t, p.Output.WaitFor(ctx, "started"))
	}
	for _, port := range []int{wport, sport} {
		code, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		require.Equal(t, http.StatusOK, code, "ready once consuming")
	}
	wm := fmt.Sprintf("http://127.0.0.1:%d/metrics", wport)
	sm := fmt.Sprintf("http://127.0.0.1:%d/metrics", sport)
	completed := `rowforge_worker_groups_total{status="completed"}`
	cells := `rowforge_worker_cells_total{column="title"}`
	require.Zero(t, scrape(t, wm, completed))

	const groups = 40
	ctrl, _ := startRun(t, srv.URL, "run", "-f", quickstartPath(t), "-n", fmt.Sprint(groups*1000), "--buffer-size", "1000",
		"--name", "metered", "--nats-url", srv.URL)
	mid := scrape(t, wm, completed)
	require.Positive(t, mid, "groups are counted as they complete")
	require.Positive(t, scrape(t, wm, cells))
	require.NoError(t, waitExit(t, ctrl, runTimeout, connect(t, srv.URL)), ctrl.Output.String())

	require.Equal(t, float64(groups), scrape(t, wm, completed))
	require.Equal(t, float64(groups*1000), scrape(t, wm, cells), "one cell per row of the expression column")
	require.Equal(t, float64(groups), scrape(t, sm, `rowforge_sinkd_groups_total{result="written"}`))
	require.Equal(t, float64(groups*1000), scrape(t, sm, "rowforge_sinkd_rows_total"))
	stopGracefully(t, w, s)
}
