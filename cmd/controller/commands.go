package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/profile"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "controller",
		Short: "Generate synthetic datasets from a declarative config",
		Long: `controller runs rowforge datasets. A config lists columns and their generators (samplers,
Jinja expressions, LLM calls on OpenAI-compatible endpoints); controller plans row groups, hands
them to workers over NATS JetStream and has sinkd write the result as Parquet.

Without --nats-url (or NATS_URL) everything runs in this process: an embedded nats-server,
workers and a sink. A deployment of its own is prepared once with controller setup.
Exit codes: 0 completed, 1 run failed, 2 invalid config or usage, 3 aborted.`,
	}
	root.AddCommand(runCmd(), previewCmd(), validateCmd(), checkModelsCmd(), abortCmd(), statusCmd(), resumeCmd(), reportCmd(), setupCmd())
	return root
}

// modelFlags are those of a command that calls a config's models from this machine.
type modelFlags struct {
	file, providers string
	patience        time.Duration
}

// load reads the config and the providers file, without the seed dataset: these commands
// call the models, they generate no rows.
func (m *modelFlags) load() (*config.Config, []wire.Provider, error) {
	cfg, _, ps, err := loadConfig(m.file, m.providers)
	return cfg, ps, err
}

func checkModelsCmd() *cobra.Command {
	var m modelFlags
	cmd := &cobra.Command{
		Use:   "check-models -f CONFIG",
		Short: "Ask each model of a config for one reply and report",
		Long: `check-models resolves each model_configs entry to its provider — the config's model_providers,
then --providers, then the built-in nvidia, openai and openrouter — and asks it for one short
reply from this machine (with this machine's API keys), all at once; an embedding model for one
embedding. A reply that is not a chat completion (an HTML page, an empty or cut-off body) is
reported with the endpoint and the start of what came back. Exit 1 if any model did not answer.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if m.file == "" {
				return &cli.UsageError{Err: fmt.Errorf("-f/--file is required")}
			}
			cfg, ps, err := m.load()
			if err != nil {
				return err
			}
			return deploy.CheckModels(cmd.Context(), cfg, ps, m.patience, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&m.file, "file", "f", "", "dataset config (required)")
	cmd.Flags().StringVar(&m.providers, "providers", "", "model providers file")
	cmd.Flags().DurationVar(&m.patience, "patience", 20*time.Second, "give up on a model that answered only errors for this long")
	return cmd
}

func reportCmd() *cobra.Command {
	var m modelFlags
	cmd := &cobra.Command{
		Use:   "report DIR [-f CONFIG]",
		Short: "Profile a finished dataset: write DIR/analysis.json and DIR/report.html",
		Long: `report profiles the finished dataset in DIR (a folder with metadata.json, as run writes
it): per-column statistics in the shape of Data Designer's profiler go to analysis.json, and a
self-contained report.html (no script, nothing to download) shows them with one plot per column.
run writes both after every build; report renders them again, for any finished dataset.
With -f, the config's profilers (judge-score summaries, written by one of its models) run too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := profile.Write(cmd.Context(), args[0], profile.Options{})
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			if m.file != "" {
				cfg, ps, err := m.load()
				if err != nil {
					return err
				}
				if err := deploy.SummarizeJudges(cmd.Context(), cfg, args[0], ps, m.patience); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d records, %d columns: %s, %s\n", a.NumRecords, len(a.Columns),
				filepath.Join(args[0], profile.AnalysisFile), filepath.Join(args[0], profile.ReportFile))
			return nil
		},
	}
	cmd.Flags().StringVarP(&m.file, "file", "f", "", "the dataset's config: run its profilers (judge-score summaries) too")
	cmd.Flags().StringVar(&m.providers, "providers", "", "model providers file, as for run")
	cmd.Flags().DurationVar(&m.patience, "model-patience", time.Minute, "give up on a profiler's model after it answered only errors for this long")
	return cmd
}

func validateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f CONFIG",
		Short: "Check a config and print its columns in dependency order",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &cli.UsageError{Err: fmt.Errorf("-f/--file is required")}
			}
			cfg, _, err := deploy.LoadConfig(file)
			if err != nil {
				return err
			}
			return cli.WriteColumns(cmd.OutOrStdout(), cfg)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "dataset config (required)")
	return cmd
}

// progressUsage is the help of --progress.
const progressUsage = "how the run's progress is shown on stderr: auto (bars on a terminal, else lines), bar, " +
	"lines (an INFO line every 5 s: rows, cells per column, requests per model as ok/failed/in flight) or off"

// loadConfig reads a config, its seed dataset and a providers file ("" reads none): every
// command that runs or calls the config's models needs all three, the config's errors first.
func loadConfig(file, providers string) (*config.Config, *seeddata.Dataset, []wire.Provider, error) {
	cfg, seed, err := deploy.LoadConfig(file)
	if err != nil {
		return nil, nil, nil, err
	}
	ps, err := deploy.LoadProviders(providers)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, seed, ps, nil
}
