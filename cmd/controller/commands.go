package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/runner"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/profile"
	"github.com/rowforge/rowforge/pkg/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

type common struct {
	file   string
	client runner.Client
}

func (c *common) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&c.file, "file", "f", "", "dataset config (YAML, Data Designer's shape) (required)")
	c.client.Bind(cmd.Flags(), "warn")
	cmd.Flags().Lookup("nats-url").Usage = "NATS server(s) of a deployment, comma-separated (default $NATS_URL; neither: local mode)"
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "controller",
		Short: "Generate synthetic datasets from a declarative config",
		Long: `controller runs rowforge datasets. A config lists columns and their generators (samplers,
Jinja expressions, LLM calls on OpenAI-compatible endpoints); controller plans row groups, hands
them to workers over NATS JetStream and has sinkd write the result as Parquet.

Without --nats-url (or NATS_URL) everything runs in this process: an embedded nats-server,
workers and a sink. Exit codes: 0 completed, 1 run failed, 2 invalid config or usage, 3 aborted.`,
	}
	root.AddCommand(runCmd(), previewCmd(), validateCmd(), checkModelsCmd(), abortCmd(), statusCmd(), resumeCmd(), reportCmd())
	return root
}

type runFlags struct {
	common
	n, bufferSize, window, workers int
	out, name                      string
	seed                           uint64
	errorRate                      float64
	errorWindow                    int
	noEarlyShutdown, allowPartial  bool
	providers, assets              string
	patience                       time.Duration
	progress                       string
}

// lifecycle returns the options the flags set for a run in mode.
func (f *runFlags) lifecycle(mode, name string) lifecycle.Options {
	return lifecycle.Options{Mode: mode, NumRecords: f.n, BufferSize: f.bufferSize,
		MaxConcurrentRowGroups: f.window, Seed: f.seed, DatasetName: name,
		ShutdownErrorRate: f.errorRate, ShutdownErrorWindow: f.errorWindow,
		DisableEarlyShutdown: f.noEarlyShutdown, AllowPartial: f.allowPartial, Assets: f.assets}
}

func (f *runFlags) bind(cmd *cobra.Command, preview bool) {
	f.common.bind(cmd)
	cmd.Flags().IntVarP(&f.n, "num-records", "n", 0, "number of records to generate (required)")
	cmd.Flags().Uint64Var(&f.seed, "seed", 0, "seed of every random choice: the same seed, config, N and buffer size give the same dataset (default: random, printed)")
	cmd.Flags().IntVar(&f.workers, "workers", 2, "in-process workers (local mode)")
	cmd.Flags().IntVar(&f.window, "max-concurrent-row-groups", 16, "most row groups in flight at once, the bound of the controller's memory; within it a group is published once workers took the one before (they take more while their model seats have room)")
	cmd.Flags().Float64Var(&f.errorRate, "shutdown-error-rate", 0.5, "stop the run once this share of the last --shutdown-error-window generation tasks failed")
	cmd.Flags().IntVar(&f.errorWindow, "shutdown-error-window", 10, "generation tasks the error rate is measured over")
	cmd.Flags().BoolVar(&f.noEarlyShutdown, "disable-early-shutdown", false, "never stop early: failed rows are dropped, however many")
	cmd.Flags().DurationVar(&f.patience, "model-patience", 5*time.Minute, "local mode: fail the run when a model has answered only errors for this long (workers have their own flag)")
	cmd.Flags().StringVar(&f.providers, "providers", "", "model providers file (Data Designer's model_providers.yaml shape); the config's model_providers win over it, it over the built-in nvidia, openai and openrouter")
	cmd.Flags().StringVar(&f.assets, "assets", "", "managed-assets folder of the person sampler's Nemotron-Personas datasets (<folder>/datasets/<locale>.parquet; default $ROWFORGE_ASSETS, then Data Designer's ~/.data-designer/managed-assets)")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", progressUsage)
	cmd.Flags().BoolVar(&f.allowPartial, "allow-partial", false, "when the error rate stops the run, keep the committed groups and write metadata marked partial (exit 0) instead of failing")
	if !preview {
		cmd.Flags().IntVar(&f.bufferSize, "buffer-size", 1000, "rows per row group, and per Parquet file")
		cmd.Flags().StringVar(&f.out, "out", "artifacts", "folder the dataset is written under (local mode; sinkd has its own --out)")
		cmd.Flags().StringVar(&f.name, "name", "", "dataset name, the folder under --out (default: the config file's name)")
	}
}

func (f *runFlags) check(cmd *cobra.Command) error {
	if f.file == "" {
		return &runner.UsageError{Err: fmt.Errorf("-f/--file is required")}
	}
	if f.n <= 0 {
		return &runner.UsageError{Err: fmt.Errorf("-n/--num-records must be a positive number")}
	}
	if cmd.Flags().Lookup("buffer-size") != nil && f.bufferSize <= 0 {
		return &runner.UsageError{Err: fmt.Errorf("--buffer-size must be positive")}
	}
	if f.window <= 0 || f.workers <= 0 {
		return &runner.UsageError{Err: fmt.Errorf("--max-concurrent-row-groups and --workers must be positive")}
	}
	if _, err := progress.ParseMode(f.progress); err != nil {
		return &runner.UsageError{Err: fmt.Errorf("--progress: %w", err)}
	}
	if !cmd.Flags().Changed("seed") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f.seed = binary.LittleEndian.Uint64(b[:]) >> 1 // JSON-safe in every reader
	}
	return nil
}

func runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run -f CONFIG -n N",
		Short: "Generate a dataset and write it as Parquet",
		Example: `  controller run -f examples/quickstart.yaml -n 1000 --seed 42
  controller run -f config.yaml -n 100000 --buffer-size 10000 --nats-url nats://nats:4222`,
		Args: runner.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			cfg, seed, err := runner.LoadConfig(f.file)
			if err != nil {
				return err
			}
			name := f.name
			if name == "" {
				name = strings.TrimSuffix(baseName(f.file), extOf(f.file))
			}
			opts := f.lifecycle(wire.ModeBuild, name)
			opts.SeedData = seed
			if opts.Providers, err = runner.LoadProviders(f.providers); err != nil {
				return err
			}
			return execute(cmd, &f, cfg, opts, showNothing)
		},
	}
	f.bind(cmd, false)
	return cmd
}

func previewCmd() *cobra.Command {
	var f runFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "preview -f CONFIG -n N",
		Short: "Generate a few records and print them; writes no files",
		Long: `preview generates N records through the same controller, workers and sink as run, keeps them
in the rf_preview bucket (in memory, with a TTL) instead of Parquet, and prints them. As in
Data Designer, a preview is one row group of N rows.`,
		Args: runner.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			cfg, seed, err := runner.LoadConfig(f.file)
			if err != nil {
				return err
			}
			show := showTable
			if asJSON {
				show = showJSON
			}
			f.bufferSize = f.n // a preview is one row group, as in Data Designer
			opts := f.lifecycle(wire.ModePreview, "preview")
			opts.SeedData = seed
			if opts.Providers, err = runner.LoadProviders(f.providers); err != nil {
				return err
			}
			return execute(cmd, &f, cfg, opts, show)
		},
	}
	f.bind(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines instead of a table")
	return cmd
}

// show says how a preview's records are printed; a build prints none.
type show int

const (
	showNothing show = iota
	showTable
	showJSON
)

func execute(cmd *cobra.Command, f *runFlags, cfg *config.Config, opts lifecycle.Options, how show) error {
	if err := f.client.Resolve(); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	term := progress.NewTerminal(stderr) // log lines go above the progress bars
	log, err := f.client.LoggerTo(term)
	if err != nil {
		return err
	}
	// Person datasets are read now: a missing one is a config error before anything is created.
	if opts.Samplers, err = lifecycle.BuildSamplers(cfg, &opts); err != nil {
		return err
	}
	prog, err := f.client.Progress(f.progress, term)
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := runner.Run(cmd.Context(), runner.Params{
		Config: cfg, Client: f.client, Workers: f.workers, Out: f.out, Run: opts, Logger: log,
		LLM: llm.Options{Patience: f.patience},
		OnStart: func(id, url string) {
			fmt.Fprintf(stderr, "run %s started: %d records, seed %d, server %s\n", id, opts.NumRecords, opts.Seed, url)
			fmt.Fprintf(stderr, "  abort with: nats pub --server %s %s '{\"op\":\"abort\",\"reason\":\"...\"}'\n", url, f.client.Layout().ControlSubject(id))
		},
		Progress: prog,
	})
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range sum.Records {
			r.Release()
		}
	}()
	res := sum.Result
	if how != showNothing {
		out := cmd.OutOrStdout()
		if how == showJSON {
			err = runner.WriteJSONLines(out, sum.Records)
		} else {
			err = runner.WriteTable(out, sum.Records, 40)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "run %s %s: %d records previewed (%d groups dropped) in %s\n",
			res.RunID, res.Status, res.Rows, res.Dropped, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if report := filepath.Join(sum.Dir, profile.ReportFile); sum.Dir != "" && fileExists(report) { // on this machine; the summary stays the last line
		if len(cfg.Profilers) > 0 {
			if err := runner.SummarizeJudges(cmd.Context(), cfg, sum.Dir, opts.Providers, f.patience); err != nil {
				fmt.Fprintf(stderr, "profilers: %v (the dataset is complete; run `controller report %s -f CONFIG` again)\n", err, sum.Dir)
			}
		}
		fmt.Fprintf(stderr, "profile: %s\n", report)
	}
	fmt.Fprintf(stderr, "run %s %s: %d of %d records in %d groups (%d groups dropped) in %s, peak memory %d MiB; dataset %s\n",
		res.RunID, res.Status, res.Rows, opts.NumRecords, len(res.Commits), res.Dropped, time.Since(start).Round(time.Millisecond),
		runner.PeakRSS()>>20, sum.Dir)
	printUsage(stderr, res.Usage)
	return nil
}

// printUsage prints a line per model: what the run asked and what it cost in tokens.
func printUsage(w interface{ Write([]byte) (int, error) }, usage map[string]wire.ModelUsage) {
	aliases := make([]string, 0, len(usage))
	for a := range usage {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	for _, a := range aliases {
		u := usage[a]
		fmt.Fprintf(w, "  model %s: %d requests (%d failed and retried or dropped), %d prompt + %d completion tokens\n",
			a, u.Requests, u.Failed, u.PromptTokens, u.CompletionTokens)
	}
}

func checkModelsCmd() *cobra.Command {
	var file, providers string
	var patience time.Duration
	cmd := &cobra.Command{
		Use:   "check-models -f CONFIG",
		Short: "Ask each model of a config for one reply and report",
		Long: `check-models resolves each model_configs entry to its provider — the config's model_providers,
then --providers, then the built-in nvidia, openai and openrouter — and asks it for one short
reply from this machine (with this machine's API keys), all at once; an embedding model for one
embedding. A reply that is not a chat completion (an HTML page, an empty or cut-off body) is
reported with the endpoint and the start of what came back. Exit 1 if any model did not answer.`,
		Args: runner.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &runner.UsageError{Err: fmt.Errorf("-f/--file is required")}
			}
			cfg, ps, err := loadWithProviders(file, providers)
			if err != nil {
				return err
			}
			return runner.CheckModels(cmd.Context(), cfg, ps, patience, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "dataset config (required)")
	cmd.Flags().StringVar(&providers, "providers", "", "model providers file")
	cmd.Flags().DurationVar(&patience, "patience", 20*time.Second, "give up on a model that answered only errors for this long")
	return cmd
}

func reportCmd() *cobra.Command {
	var file, providers string
	var patience time.Duration
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
				return &runner.UsageError{Err: err}
			}
			if file != "" {
				cfg, ps, err := loadWithProviders(file, providers)
				if err != nil {
					return err
				}
				if err := runner.SummarizeJudges(cmd.Context(), cfg, args[0], ps, patience); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d records, %d columns: %s, %s\n", a.NumRecords, len(a.Columns),
				filepath.Join(args[0], profile.AnalysisFile), filepath.Join(args[0], profile.ReportFile))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the dataset's config: run its profilers (judge-score summaries) too")
	cmd.Flags().StringVar(&providers, "providers", "", "model providers file, as for run")
	cmd.Flags().DurationVar(&patience, "model-patience", time.Minute, "give up on a profiler's model after it answered only errors for this long")
	return cmd
}

func validateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f CONFIG",
		Short: "Check a config and print its columns in dependency order",
		Args:  runner.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &runner.UsageError{Err: fmt.Errorf("-f/--file is required")}
			}
			cfg, _, err := runner.LoadConfig(file)
			if err != nil {
				return err
			}
			return writeColumns(cmd.OutOrStdout(), cfg)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "dataset config (required)")
	return cmd
}

// progressUsage is the help of --progress.
const progressUsage = "how the run's progress is shown on stderr: auto (bars on a terminal, else lines), bar, " +
	"lines (an INFO line every 5 s: rows, cells per column, requests per model as ok/failed/in flight) or off"

// loadWithProviders reads a config and a providers file, for commands that call its models from
// this machine.
func loadWithProviders(file, providers string) (*config.Config, []wire.Provider, error) {
	cfg, _, err := runner.LoadConfig(file)
	if err != nil {
		return nil, nil, err
	}
	ps, err := runner.LoadProviders(providers)
	if err != nil {
		return nil, nil, err
	}
	return cfg, ps, nil
}
