// Command sinkd writes the finalized row groups of rowforge runs: Parquet files for a build,
// the in-memory rf_preview bucket for a preview.
package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/runner"
	"github.com/rowforge/rowforge/pkg/sinkd"
)

func main() {
	var url, out, logLevel string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "sinkd --nats-url URL --out DIR",
		Short: "Write finalized rowforge row groups to Parquet",
		Long: `sinkd consumes the RF_SINK stream and writes each run's dataset to <out>/<dataset>/:
parquet-files/batch_NNNNN.parquet (one per row group), builder_config.json and, last,
metadata.json — each through a temp file, fsync and rename, so a file is whole or absent.
When <out>/<dataset> holds another run's dataset, the run goes to <out>/<dataset>_<run>.`,
		Args: runner.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runner.Serve(cmd.Context(), url, logLevel, "rowforge-sinkd", func(ctx context.Context, d runner.Deployment) error {
				return sinkd.NewService(d.NC, d.JS, d.Layout, d.Res,
					sinkd.Options{Out: out, Concurrency: concurrency, Logger: d.Log}).Run(ctx)
			})
		},
	}
	cmd.Flags().StringVar(&url, "nats-url", "", "NATS server (default $NATS_URL)")
	cmd.Flags().StringVar(&out, "out", "artifacts", "folder datasets are written under")
	cmd.Flags().IntVar(&concurrency, "concurrency", 2, "row groups written at once")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	runner.Main(cmd)
}
