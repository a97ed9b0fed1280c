package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/runner"
	"github.com/rowforge/rowforge/pkg/progress"
)

// connectTo opens a plain connection for an operator command: no local mode, nothing created.
func connectTo(c *runner.Client) (*nats.Conn, jetstream.JetStream, error) {
	if err := c.Resolve(); err != nil {
		return nil, nil, err
	}
	if c.URL == "" {
		return nil, nil, &runner.UsageError{Err: fmt.Errorf("--nats-url (or NATS_URL) is required: the server the run lives on")}
	}
	opts := append(c.Options("rowforge-controller-ops", false), nats.MaxReconnects(0))
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", c.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func abortCmd() *cobra.Command {
	var client runner.Client
	var reason string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "abort RUN_ID",
		Short: "Abort a run (the same as nats pub rf.control.<run> '{\"op\":\"abort\"}')",
		Long: `abort records the run as aborting in rf_runs (workers that miss the broadcast still see it),
broadcasts the abort on rf.control.<run>, and waits for the run's controller to drain the
workers and end the run. It prints the run's final state.`,
		Args: runner.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			nc, js, err := connectTo(&client)
			if err != nil {
				return err
			}
			defer nc.Close()
			state, err := runner.Abort(cmd.Context(), nc, js, client.Layout(), args[0], reason, wait)
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
	var client runner.Client
	cmd := &cobra.Command{
		Use:   "status [RUN_ID]",
		Short: "Show runs, their state and progress, and the live workers",
		Args:  runner.Args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			nc, js, err := connectTo(&client)
			if err != nil {
				return err
			}
			defer nc.Close()
			run := ""
			if len(args) == 1 {
				run = args[0]
			}
			runs, workers, err := runner.Status(cmd.Context(), js, client.Layout(), run)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATE\tMODE\tGROUPS\tROWS\tSTARTED\tREASON")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", r.ID, r.State, r.Mode,
					r.Progress.GroupsDone, r.Progress.Groups, r.Progress.Rows, r.NumRecords,
					r.CreatedAt.Local().Format(time.DateTime), r.Reason)
			}
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "WORKER\tLAST HEARTBEAT\tIN FLIGHT")
			for _, w := range workers {
				var groups []string
				for run, gs := range w.InFlight {
					groups = append(groups, fmt.Sprintf("%s:%v", run, gs))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", w.ID, w.Updated.Local().Format(time.TimeOnly), strings.Join(groups, " "))
			}
			return tw.Flush()
		},
	}
	client.Bind(cmd.Flags(), "warn")
	return cmd
}

func resumeCmd() *cobra.Command {
	var client runner.Client
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
		Args:    runner.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client.Resolve(); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			term := progress.NewTerminal(stderr) // log lines go above the progress bars
			log, err := client.LoggerTo(term)
			if err != nil {
				return err
			}
			prog, err := client.Progress(progressMode, term)
			if err != nil {
				return err
			}
			start := time.Now()
			sum, err := runner.Resume(cmd.Context(), runner.Params{Client: client, Logger: log,
				OnStart: func(id, url string) {
					fmt.Fprintf(stderr, "run %s resuming on server %s\n", id, url)
				},
				Progress: prog,
			}, args[0])
			if err != nil {
				return err
			}
			res := sum.Result
			fmt.Fprintf(stderr, "run %s %s: %d records in %d groups (%d groups dropped; %d groups had ended before the resume) in %s; dataset %s\n",
				res.RunID, res.Status, res.Rows, len(res.Commits), res.Dropped, res.Resumed,
				time.Since(start).Round(time.Millisecond), sum.Dir)
			printUsage(stderr, res.Usage)
			return nil
		},
	}
	client.Bind(cmd.Flags(), "warn")
	cmd.Flags().StringVar(&progressMode, "progress", "auto", progressUsage)
	return cmd
}
