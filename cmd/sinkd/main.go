// Command sinkd writes the finalized row groups of rowforge runs: Parquet files for a build,
// the in-memory rf_preview bucket for a preview.
package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/sinkd"
)

func main() {
	var client deploy.Client
	var out, metricsAddr string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "sinkd --nats-url URL --out DIR",
		Short: "Write finalized rowforge row groups to Parquet",
		Long: `sinkd consumes the RF_SINK stream and writes each run's dataset to <out>/<dataset>/:
parquet-files/batch_NNNNN.parquet (one per row group), builder_config.json and, last,
metadata.json — each through a temp file, fsync and rename, so a file is whole or absent.
When <out>/<dataset> holds another run's dataset, the run goes to <out>/<dataset>_<run>.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return deploy.Serve(cmd.Context(), &client, deploy.RoleSinkd, func(ctx context.Context, d deploy.Deployment) error {
				reg := prometheus.NewRegistry()
				svc := sinkd.NewService(d.NC, d.JS, d.Layout, d.Res,
					sinkd.Options{Out: out, Concurrency: concurrency, Logger: d.Log, Metrics: metrics.NewSinkd(reg)})
				stop, err := deploy.Observe(ctx, metricsAddr, reg, svc.Ready, d.Log)
				if err != nil {
					return err
				}
				defer stop()
				return svc.Run(ctx)
			})
		},
	}
	client.Bind(cmd.Flags(), "info")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this address (e.g. :9465; default: off)")
	cmd.Flags().StringVar(&out, "out", "artifacts", "folder datasets are written under")
	cmd.Flags().IntVar(&concurrency, "concurrency", 2, "row groups written at once")
	cli.Main(cmd)
}
