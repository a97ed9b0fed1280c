package deploy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rowforge/rowforge/internal/metrics"
)

// Observe serves reg's metrics and ready as /healthz on addr until the returned stop is called
// (stop waits for the server to end). An empty addr serves nothing. The Go runtime's and the
// process's own collectors are added to reg.
func Observe(ctx context.Context, addr string, reg *prometheus.Registry, ready func() error, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sctx, cancel := context.WithCancel(ctx)
	srv, err := metrics.Serve(sctx, addr, reg, ready)
	if err != nil {
		cancel()
		return nil, &FlagError{Err: fmt.Errorf("--metrics-addr: %w", err)}
	}
	log.Info("serving /metrics and /healthz", "addr", srv.Addr())
	return func() { cancel(); _ = srv.Wait() }, nil
}
