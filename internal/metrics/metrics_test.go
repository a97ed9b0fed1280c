package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url with a client that keeps no connection open, so that no goroutine of the
// test's own outlives it.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewWorker(reg)
	var started atomic.Bool
	ready := func() error {
		if !started.Load() {
			return errors.New("worker: not started")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := metrics.Serve(ctx, "127.0.0.1:0", reg, ready)
	require.NoError(t, err)
	base := "http://" + srv.Addr()

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "worker: not started")
	code, body = get(t, base+"/livez")
	require.Equal(t, http.StatusOK, code, "alive while not ready")
	require.Equal(t, "ok", body)
	started.Store(true)
	code, body = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body)

	m.GroupDone(metrics.StatusCompleted)
	m.ColumnCells("title", 7, 0)
	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `rowforge_worker_groups_total{status="completed"} 1`)
	require.Contains(t, body, `rowforge_worker_groups_total{status="handed_back"} 0`, "every status is there from the start")
	require.Contains(t, body, `rowforge_worker_cells_total{column="title"} 7`)

	cancel()
	require.NoError(t, srv.Wait())
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "the server is gone")
}

func TestServeRejectsABadAddress(t *testing.T) {
	_, err := metrics.Serve(t.Context(), "127.0.0.1:notaport", prometheus.NewRegistry(), nil)
	require.Error(t, err)
}

// A process without metrics passes nil: every method must be a no-op on it.
func TestNilRecordsNothing(t *testing.T) {
	var w *metrics.Worker
	w.GroupStarted()
	w.GroupDone(metrics.StatusFailed)
	w.ColumnCells("c", 1, 1)
	w.Error(metrics.ErrPublish)
	w.Request("m", llm.Succeeded, 1, 1)
	w.InFlight("m", 1)
	var s *metrics.Sinkd
	s.Group(metrics.ResultRefused)
	s.Written(10)
	s.WriteTook(0)
	s.Finalize()
	s.Error(metrics.ErrPublish)
}

// Several services of one process (workers and a sink in local mode) share one registry: the
// second registration reuses the collectors instead of failing.
func TestServicesShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := metrics.NewWorker(reg), metrics.NewWorker(reg)
	s := metrics.NewSinkd(reg)
	a.Error(metrics.ErrPublish)
	b.Error(metrics.ErrPublish)
	s.Error(metrics.ErrPublish)
	require.Equal(t, 3.0, testutil.ToFloat64(a.Errors.WithLabelValues(metrics.ErrPublish)))

	a.Request("m", llm.RateLimited, 0, 0)
	b.Request("m", llm.Succeeded, 12, 5)
	require.Equal(t, 1.0, testutil.ToFloat64(a.LLMRequests.WithLabelValues("m", "rate_limited")))
	require.Equal(t, 1.0, testutil.ToFloat64(a.LLMRequests.WithLabelValues("m", "ok")))
	require.Equal(t, 12.0, testutil.ToFloat64(a.LLMTokens.WithLabelValues("m", "prompt")))
	require.Equal(t, 5.0, testutil.ToFloat64(a.LLMTokens.WithLabelValues("m", "completion")))

	s.Written(40)
	require.Equal(t, 40.0, testutil.ToFloat64(s.Rows))
	require.Equal(t, 1.0, testutil.ToFloat64(s.Groups.WithLabelValues(metrics.ResultWritten)))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}
