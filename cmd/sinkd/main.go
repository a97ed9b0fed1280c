// Command sinkd writes the finalized row groups of rowforge runs: Parquet files for a build,
// the in-memory rf_preview bucket for a preview.
package main

import (
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
			reg := prometheus.NewRegistry()
			return deploy.Serve(cmd.Context(), &client, deploy.RoleSinkd, deploy.Observation{Addr: metricsAddr, Registry: reg},
				func(d deploy.Deployment) deploy.Service {
					return sinkd.NewService(d.NC, d.JS, d.Layout, d.Res,
						sinkd.Options{Out: out, Concurrency: concurrency, Logger: d.Log, Metrics: metrics.NewSinkd(reg)})
				})
		},
	}
	client.Bind(cmd.Flags(), "info")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz (ready: consuming) and /livez on this address (e.g. :9465; default: off)")
	cmd.Flags().StringVar(&out, "out", "artifacts", "folder datasets are written under")
	cmd.Flags().IntVar(&concurrency, "concurrency", 2, "row groups written at once")
	cli.Main(cmd)
}
