package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
)

func abortCmd() *cobra.Command {
	var client deploy.Client
	var reason string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "abort RUN_ID",
		Short: "Abort a run (the same as nats pub rf.control.<run> '{\"op\":\"abort\"}')",
		Long: `abort records the run as aborting in rf_runs (workers that miss the broadcast still see it),
broadcasts the abort on rf.control.<run>, and waits for the run's controller to drain the
workers and end the run. It prints the run's final state.`,
		Args: cli.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := deploy.Dial(&client)
			if err != nil {
				return err
			}
			defer op.Close()
			state, err := op.Abort(cmd.Context(), args[0], reason, wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s: %s\n", args[0], state)
			return nil
		},
	}
	client.Bind(cmd.Flags(), "warn")
	cmd.Flags().StringVar(&reason, "reason", "aborted by an operator", "why; recorded with the run")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the run to end (0: do not wait)")
	return cmd
}

func statusCmd() *cobra.Command {
	var client deploy.Client
	cmd := &cobra.Command{
		Use:   "status [RUN_ID]",
		Short: "Show runs, their state and progress, and the live workers",
		Args:  cli.Args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := deploy.Dial(&client)
			if err != nil {
				return err
			}
			defer op.Close()
			run := ""
			if len(args) == 1 {
				run = args[0]
			}
			runs, workers, err := op.Status(cmd.Context(), run)
			if err != nil {
				return err
			}
			return cli.WriteStatus(cmd.OutOrStdout(), runs, workers)
		},
	}
	client.Bind(cmd.Flags(), "warn")
	return cmd
}

func resumeCmd() *cobra.Command {
	var client deploy.Client
	var progressMode string
	cmd := &cobra.Command{
		Use:   "resume RUN_ID",
		Short: "Continue a run whose controller was killed or lost",
		Long: `resume takes over a run whose controller stopped before the run ended (a kill, a lost
machine) and finishes it. The run's config and options, the groups already committed (the
rf_commits ledger) and the outcomes not yet taken are all on the broker: committed groups are
not generated again, and the dataset equals an uninterrupted run with the same seed.

Only a run in state running can be resumed (controller status shows it); one that was aborted
while it had no controller is drained and discarded instead (exit 3). If the old controller is
in fact still alive, it stops at its next group and leaves the run to this one.`,
		Example: `  controller resume 3f9a1c2b7d4e --nats-url nats://nats:4222`,
		Args:    cli.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, prog, err := runOutput(cmd, &client, progressMode)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			start := time.Now()
			sum, err := deploy.Resume(cmd.Context(), deploy.Params{Client: client, Logger: log,
				OnStart:  func(id, url string) { cli.WriteResuming(stderr, id, url) },
				Progress: prog,
			}, args[0])
			if err != nil {
				return err
			}
			cli.WriteResumeSummary(stderr, sum.Result, sum.Dir, time.Since(start))
			return nil
		},
	}
	client.Bind(cmd.Flags(), "warn")
	cmd.Flags().StringVar(&progressMode, "progress", "auto", progressUsage)
	return cmd
}

func setupCmd() *cobra.Command {
	var client deploy.Client
	cmd := &cobra.Command{
		Use:   "setup --nats-url URL",
		Short: "Create or update rowforge's streams, consumers and buckets on a server",
		Long: `setup prepares a deployment: it creates (or updates to this version's layout) the streams
RF_GROUPS, RF_OUTCOMES and RF_SINK, the shared consumers "workers" and "sinkd", the buckets
rf_runs, rf_workers, rf_preview, rf_commits, rf_seats, rf_cells and the object store
rf_payloads, and prints one line per resource: created, updated or unchanged. Running it again
is harmless.

Run it once per deployment (and after an upgrade), as the controller user: it is the only step
that needs JetStream administration rights (another user's setup fails at once, naming the
subject the server refused it). Workers and sinkd only look these resources up;
until they exist they wait and log "waiting for the deployment: ... run \"controller setup\"".
controller run, preview and resume also create what is missing, so a first run sets a server
up too; local mode (no --nats-url) sets itself up. Use the same --prefix and --replicas as the
rest of the deployment.`,
		Example: `  controller setup --nats-url nats://controller:$PASSWORD@nats:4222
  controller setup --nats-url nats://n1:4222,nats://n2:4222,nats://n3:4222 --replicas 3`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			return deploy.Setup(cmd.Context(), &client, func(c broker.Change) {
				fmt.Fprintf(out, "%-12s %-24s %s\n", c.Kind, c.Name, c.Action)
			})
		},
	}
	client.Bind(cmd.Flags(), "warn")
	return cmd
}
