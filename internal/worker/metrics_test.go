package worker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/wire"
)

func TestMetricsAndReady(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	m := metrics.NewWorker(prometheus.NewRegistry())
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w := worker.New(nc, js, b.layout, b.res, worker.Options{ID: "w1", Logger: quiet, Metrics: m})
	require.ErrorContains(t, w.Ready(), "not started")
	stop := servicetest.Start(t, w.Run)
	require.Eventually(t, func() bool { return w.Ready() == nil }, waitFor, 5*time.Millisecond)

	const run = "metered"
	b.putRun(t, run, wire.RunRunning, doubleConfig)
	cons := b.outcomes(t, run)
	b.publishGroup(t, run, 0, encode(t, seeds(4)))
	require.Equal(t, "completed", next(t, cons).Headers().Get(wire.HeaderStatus))

	// Counted once the message is settled, which is just after the outcome is stored.
	completed := m.Groups.WithLabelValues(metrics.StatusCompleted)
	require.Eventually(t, func() bool { return testutil.ToFloat64(completed) == 1 }, waitFor, 5*time.Millisecond)
	require.Equal(t, 4.0, testutil.ToFloat64(m.Cells.WithLabelValues("twice")))
	require.Zero(t, testutil.ToFloat64(m.GroupsInFlight))
	require.Equal(t, 1, testutil.CollectAndCount(m.Cells), "only generated columns have cells; the seed column n does not")

	stop()
	require.ErrorContains(t, w.Ready(), "stopped")
}
