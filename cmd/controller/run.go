package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/profile"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

type common struct {
	file   string
	client deploy.Client
}

func (c *common) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&c.file, "file", "f", "", "dataset config (YAML, Data Designer's shape) (required)")
	c.client.Bind(cmd.Flags(), "warn")
	cmd.Flags().Lookup("nats-url").Usage = "NATS server(s) of a deployment, comma-separated (default $NATS_URL; neither: local mode)"
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
		return &cli.UsageError{Err: fmt.Errorf("-f/--file is required")}
	}
	if f.n <= 0 {
		return &cli.UsageError{Err: fmt.Errorf("-n/--num-records must be a positive number")}
	}
	if cmd.Flags().Lookup("buffer-size") != nil && f.bufferSize <= 0 {
		return &cli.UsageError{Err: fmt.Errorf("--buffer-size must be positive")}
	}
	if f.window <= 0 || f.workers <= 0 {
		return &cli.UsageError{Err: fmt.Errorf("--max-concurrent-row-groups and --workers must be positive")}
	}
	if _, err := progress.ParseMode(f.progress); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--progress: %w", err)}
	}
	if !cmd.Flags().Changed("seed") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f.seed = binary.LittleEndian.Uint64(b[:]) >> 1 // JSON-safe in every reader
	}
	return nil
}

// prepare checks the flags and reads what a run of mode needs: its config, seed dataset and
// providers, into the run's options.
func (f *runFlags) prepare(cmd *cobra.Command, mode, name string) (*config.Config, lifecycle.Options, error) {
	if err := f.check(cmd); err != nil {
		return nil, lifecycle.Options{}, err
	}
	cfg, seed, providers, err := loadConfig(f.file, f.providers)
	if err != nil {
		return nil, lifecycle.Options{}, err
	}
	opts := f.lifecycle(mode, name)
	opts.SeedData, opts.Providers = seed, providers
	return cfg, opts, nil
}

func runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run -f CONFIG -n N",
		Short: "Generate a dataset and write it as Parquet",
		Example: `  controller run -f examples/quickstart.yaml -n 1000 --seed 42
  controller run -f config.yaml -n 100000 --buffer-size 10000 --nats-url nats://nats:4222`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name := f.name
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(f.file), filepath.Ext(f.file))
			}
			cfg, opts, err := f.prepare(cmd, wire.ModeBuild, name)
			if err != nil {
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
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.bufferSize = f.n // a preview is one row group, as in Data Designer
			cfg, opts, err := f.prepare(cmd, wire.ModePreview, "preview")
			if err != nil {
				return err
			}
			show := showTable
			if asJSON {
				show = showJSON
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

// runOutput resolves the client flags and returns a run's logger and progress display, both on
// stderr: the log lines go above the progress bars.
func runOutput(cmd *cobra.Command, c *deploy.Client, mode string) (*slog.Logger, progress.RenderOptions, error) {
	if err := c.Resolve(); err != nil {
		return nil, progress.RenderOptions{}, err
	}
	term := progress.NewTerminal(cmd.ErrOrStderr())
	log, err := c.LoggerTo(term)
	if err != nil {
		return nil, progress.RenderOptions{}, err
	}
	prog, err := c.Progress(mode, term)
	if err != nil {
		return nil, progress.RenderOptions{}, err
	}
	return log, prog, nil
}

func execute(cmd *cobra.Command, f *runFlags, cfg *config.Config, opts lifecycle.Options, how show) error {
	log, prog, err := runOutput(cmd, &f.client, f.progress)
	if err != nil {
		return err
	}
	// Person datasets are read now: a missing one is a config error before anything is created.
	if opts.Samplers, err = lifecycle.BuildSamplers(cfg, &opts); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	sum, err := deploy.Run(cmd.Context(), deploy.Params{
		Config: cfg, Client: f.client, Workers: f.workers, Out: f.out, Run: opts, Logger: log,
		LLM: llm.Options{Patience: f.patience},
		OnStart: func(id, url string) {
			cli.WriteRunStarted(stderr, id, opts.NumRecords, opts.Seed, url, f.client.Layout().ControlSubject(id))
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
	if how != showNothing {
		return showPreview(cmd, sum, how, start)
	}
	profileDataset(cmd, cfg, sum.Dir, opts.Providers, f.patience)
	cli.WriteBuildSummary(stderr, sum.Result, opts.NumRecords, sum.Dir, time.Since(start))
	return nil
}

// showPreview prints a preview's records on stdout, as a table or JSON lines, and its closing
// line on stderr.
func showPreview(cmd *cobra.Command, sum *deploy.Summary, how show, start time.Time) error {
	out := cmd.OutOrStdout()
	var err error
	if how == showJSON {
		err = cli.WriteJSONLines(out, sum.Records)
	} else {
		err = cli.WriteTable(out, sum.Records, 40)
	}
	if err != nil {
		return err
	}
	cli.WritePreviewSummary(cmd.ErrOrStderr(), sum.Result, time.Since(start))
	return nil
}

// profileDataset runs the config's profilers on a build's dataset when its profile is on this
// machine (sinkd may have written it elsewhere) and names the report. A profiler that fails
// leaves the dataset complete, so it is reported, not returned: the build still exits 0.
func profileDataset(cmd *cobra.Command, cfg *config.Config, dir string, providers []wire.Provider, patience time.Duration) {
	report := filepath.Join(dir, profile.ReportFile)
	if dir == "" || !fileExists(report) {
		return
	}
	stderr := cmd.ErrOrStderr()
	if len(cfg.Profilers) > 0 {
		if err := deploy.SummarizeJudges(cmd.Context(), cfg, dir, providers, patience); err != nil {
			fmt.Fprintf(stderr, "profilers: %v (the dataset is complete; run `controller report %s -f CONFIG` again)\n", err, dir)
		}
	}
	fmt.Fprintf(stderr, "profile: %s\n", report)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
