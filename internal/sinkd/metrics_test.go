package sinkd_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/sinkd"
	"github.com/rowforge/rowforge/pkg/wire"
)

func TestMetricsAndReady(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	m := metrics.NewSinkd(reg)
	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	svc := sinkd.NewService(nc, js, b.layout, b.res, sinkd.Options{Out: t.TempDir(), Logger: quiet, Metrics: m})
	require.ErrorContains(t, svc.Ready(), "not started")
	stop := servicetest.Start(t, svc.Run)
	require.Eventually(t, func() bool { return svc.Ready() == nil }, waitFor, 5*time.Millisecond)

	const run = "metered"
	b.putRun(t, run, wire.ModeBuild, wire.RunRunning, "ds")
	c := b.newClient(t, run)
	ctx := waitCtx(t)
	commit, err := c.WriteGroup(ctx, lifecycle.Group{Index: 0, Main: record(t, groupFrame(0, 10))})
	require.NoError(t, err)
	require.NoError(t, c.Finalize(ctx, metadata(run, "ds", []wire.Commit{commit})))

	// Counted once the commit is stored, which is just before the client sees it.
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.Finalized) == 1 }, waitFor, 5*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(m.Groups.WithLabelValues(metrics.ResultWritten)))
	require.Equal(t, 10.0, testutil.ToFloat64(m.Rows))
	families, err := reg.Gather()
	require.NoError(t, err)
	var writes uint64
	for _, f := range families {
		if f.GetName() == "rowforge_sinkd_write_seconds" {
			writes = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	require.EqualValues(t, 1, writes, "one write timed")

	stop()
	require.ErrorContains(t, svc.Ready(), "stopped")
}
