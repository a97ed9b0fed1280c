// Command worker generates rowforge row groups: it pulls prepared groups from a NATS JetStream
// deployment, runs each group's columns and publishes the outcome. Run as many as you like.
package main

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/internal/worker"
)

// gcPercent is the worker's GOGC unless the environment sets one. A worker's live heap is small
// (its groups and the requests in flight) but it allocates for every model request; at the
// default 100 the collector took about a sixth of its CPU, and with 256 requests in flight on a
// 2-core machine the endpoint's utilization went from 0.67 to 0.76 at 400 (make bench
// BENCH=LLMUtilization/rows=10000,.*cap=256,latency=fixed,workers=1 BENCHPKGS=./bench).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	var client deploy.Client
	var id, metricsAddr, secretsFile string
	var concurrency, maxConcurrency, tasks int
	var patience time.Duration
	cmd := &cobra.Command{
		Use:   "worker --nats-url URL",
		Short: "Generate row groups for rowforge runs",
		Long: `worker pulls prepared row groups from the RF_GROUPS work queue, one per free slot, generates
their columns and publishes each group's outcome. On SIGTERM or Ctrl-C it stops pulling, hands
back the groups in hand (another worker takes them) and exits 0.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := deploy.LoadSecrets(secretsFile)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			return deploy.Serve(cmd.Context(), &client, deploy.RoleWorker, deploy.Observation{Addr: metricsAddr, Registry: reg},
				func(d deploy.Deployment) deploy.Service {
					return worker.New(d.NC, d.JS, d.Layout, d.Res, worker.Options{
						ID: id, Concurrency: concurrency, MaxConcurrency: maxConcurrency, TaskConcurrency: tasks, Logger: d.Log,
						LLM: llm.Options{Patience: patience}, Metrics: metrics.NewWorker(reg),
						Secrets: keys})
				})
		},
	}
	client.Bind(cmd.Flags(), "info")
	cmd.Flags().IntVar(&concurrency, "concurrency", 2, "row groups generated at once")
	cmd.Flags().IntVar(&maxConcurrency, "max-concurrency", 16, "row groups generated at once while the model seats have room for more requests than the groups in hand make (a group's tail, small groups)")
	cmd.Flags().IntVar(&tasks, "task-concurrency", 256, "generator calls in flight within one row group (LLM cells wait for their model's seats, not here)")
	cmd.Flags().DurationVar(&patience, "model-patience", 5*time.Minute, "fail the run when a model has answered only errors for this long")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz (ready: consuming) and /livez on this address (e.g. :9464; default: off)")
	cmd.Flags().StringVar(&secretsFile, "secrets", "", "file of the API keys a config gave literally (they reach workers as redacted:<name> markers); "+
		secrets.FileFormat+". Without it, or for a name it lacks, the worker reads RF_SECRET_<NAME> (the name in capitals, other characters as _)")
	cmd.Flags().StringVar(&id, "id", "", "worker id in outcomes and logs (default host-pid-random)")
	cli.Main(cmd)
}
