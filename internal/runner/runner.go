// Package runner connects the controller command to a deployment — a NATS URL, or local mode
// when none is given — and runs one dataset on it. It also owns the command-line contract
// shared by rowforge's commands: exit codes and one-line errors.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/lifecycle"
	"github.com/rowforge/rowforge/pkg/llm"
	"github.com/rowforge/rowforge/pkg/local"
	"github.com/rowforge/rowforge/pkg/progress"
	"github.com/rowforge/rowforge/pkg/secrets"
	"github.com/rowforge/rowforge/pkg/sinkd"
	"github.com/rowforge/rowforge/pkg/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Params describe one run.
type Params struct {
	Config  *config.Config
	Client  Client      // Client.URL "" (after Resolve): local mode
	Workers int         // local mode only
	Out     string      // local mode's sink folder
	LLM     llm.Options // local mode's workers' model calls
	Run     lifecycle.Options
	Logger  *slog.Logger
	// OnStart is called once the run has an id and a server, before any group is published.
	OnStart    func(runID, url string)
	OnProgress func(lifecycle.Progress)
	// Progress shows the run's progress while it runs — cells per column and requests per
	// model, from the workers' reports, with the groups and rows the controller has seen end —
	// until the run ends, before Run returns. Mode "" or off shows nothing.
	Progress progress.RenderOptions

	secrets secrets.Store // the literal keys Run redacted, for local mode's workers
}

// Summary is what a finished run leaves for the command to print.
type Summary struct {
	Result  *lifecycle.Result
	Dir     string              // the dataset folder (build)
	Records []arrow.RecordBatch // the preview's groups, in order (preview); the caller releases them
}

// Run runs the dataset and returns its summary. First it asks each model the config uses for
// one short reply (but those with skip_health_check): a model that fails it fails the run
// before anything is published, with a *HealthCheckError and no summary. Otherwise the error
// is a *lifecycle.DatasetGenerationError, matches lifecycle.ErrAborted, or reports a
// connection problem.
func Run(ctx context.Context, p Params) (*Summary, error) {
	opts := p.Run
	if opts.RunID == "" {
		opts.RunID = lifecycle.NewRunID()
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := checkModelsBeforeRun(ctx, p.Config, opts.Providers, p.LLM, p.Client.URL != "", log); err != nil {
		return nil, err
	}
	p.secrets, opts.Providers = redactRun(p.Config, opts.Providers)
	return drive(ctx, p, opts.RunID, func(ctrl *lifecycle.Controller, sink lifecycle.Sink) (*lifecycle.Result, error) {
		return ctrl.Run(ctx, p.Config, opts, sink)
	})
}

// Resume continues run id, whose controller stopped before the run ended, on the deployment at
// p.Client (lifecycle.Controller.Resume); p.Config and p.Run are not used: the run's own are on
// the broker. Local mode has nothing to resume: its server ended with its controller.
func Resume(ctx context.Context, p Params, id string) (*Summary, error) {
	if p.Client.URL == "" {
		return nil, &UsageError{Err: errors.New("resume needs the deployment the run ran on: --nats-url (or NATS_URL); " +
			"a local-mode run ended with its embedded server")}
	}
	if err := wire.ValidToken(id); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("run id: %w", err)}
	}
	sum, err := drive(ctx, p, id, func(ctrl *lifecycle.Controller, sink lifecycle.Sink) (*lifecycle.Result, error) {
		return ctrl.Resume(ctx, id, sink)
	})
	var ended *lifecycle.NotResumableError
	if errors.Is(err, lifecycle.ErrUnknownRun) || errors.As(err, &ended) {
		return sum, &UsageError{Err: err}
	}
	return sum, err
}

// drive connects to the deployment (or starts local mode), opens the run's sink client and
// calls start with a controller.
func drive(ctx context.Context, p Params, runID string, start func(*lifecycle.Controller, lifecycle.Sink) (*lifecycle.Result, error)) (*Summary, error) {
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	layout := p.Client.Layout()
	var nc *nats.Conn
	var js jetstream.JetStream
	var err error
	url := p.Client.URL
	if url == "" {
		cl, err := local.Start(ctx, local.Options{Workers: p.Workers, Out: p.Out, Logger: log, LLM: p.LLM, Layout: layout, Secrets: p.secrets})
		if err != nil {
			return nil, fmt.Errorf("local mode: %w", err)
		}
		defer cl.Stop()
		layout, url = cl.Layout(), cl.URL()
		if nc, js, err = cl.Connect("rowforge-controller"); err != nil {
			return nil, err
		}
	} else {
		if nc, err = nats.Connect(url, p.Client.Options("rowforge-controller", false)...); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", url, err)
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return nil, err
		}
	}
	res, err := layout.Ensure(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("prepare JetStream on %s: %w", url, err)
	}
	sink, err := sinkd.NewClient(ctx, nc, js, layout, res, runID, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		sink.Close(cctx)
	}()
	if p.OnStart != nil {
		p.OnStart(runID, Redact(url))
	}
	ctrl := lifecycle.New(nc, js, layout, res, log)
	col, stopProgress, err := showProgress(ctx, p, nc, layout, runID, log)
	if err != nil {
		return nil, err
	}
	defer stopProgress() // idempotent
	ctrl.OnProgress(func(pr lifecycle.Progress) {
		if col != nil {
			col.SetRun(progress.RunProgress{Rows: pr.Rows, TargetRows: pr.TargetRows, Groups: pr.Groups,
				GroupsDone: pr.GroupsDone, GroupsDropped: pr.GroupsDropped})
		}
		if p.OnProgress != nil {
			p.OnProgress(pr)
		}
	})
	result, err := start(ctrl, sink)
	stopProgress() // the last counts, before the caller prints its summary
	sum := &Summary{Result: result, Dir: sink.Dir()}
	if err != nil {
		return sum, err
	}
	if result.Mode == wire.ModePreview {
		recs, _, err := sinks.ReadPreview(ctx, res.Preview, runID)
		if err != nil {
			return sum, fmt.Errorf("read the preview back: %w", err)
		}
		sum.Records = recs
	}
	return sum, nil
}

// showProgress starts collecting the workers' progress reports of run and showing them as
// p.Progress says; stop ends both, once the last counts are shown. Without a mode it does
// nothing (a nil collector).
func showProgress(ctx context.Context, p Params, nc *nats.Conn, layout wire.Layout, run string, log *slog.Logger) (
	col *progress.Collector, stop func(), err error) {
	if p.Progress.Mode == "" || p.Progress.Mode == progress.ModeOff {
		return nil, func() {}, nil
	}
	opts := progress.CollectorOptions{Logger: log}
	initial := progress.RunProgress{}
	if p.Config != nil { // a resume learns its columns from the reports, its size from its first group
		for _, c := range p.Config.GeneratedColumns() {
			opts.Columns = append(opts.Columns, c.Name)
		}
		opts.Rows = p.Run.NumRecords
		initial.TargetRows = p.Run.NumRecords
		if size := p.Run.BufferSize; size > 0 {
			initial.Groups = lifecycle.Plan{NumRecords: p.Run.NumRecords, BufferSize: size}.Groups()
		}
	}
	col = progress.NewCollector(nc, layout, run, opts)
	col.SetRun(initial)
	if err := col.Start(); err != nil {
		return nil, nil, err
	}
	r := progress.NewRenderer(col, p.Progress)
	r.Start(ctx)
	return col, func() { r.Stop(); col.Stop() }, nil
}

// Exit codes of rowforge's commands.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the run failed, or the deployment could not be reached
	ExitInvalid = 2 // invalid config or usage
	ExitAborted = 3
)

// UsageError marks a command-line mistake.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode maps an error to the command's exit code.
func ExitCode(err error) int {
	var cfgErr *config.Error
	var usage *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &cfgErr), errors.As(err, &usage):
		return ExitInvalid
	case errors.Is(err, lifecycle.ErrAborted):
		return ExitAborted
	default:
		return ExitFailed
	}
}

// ErrorLine renders err as the one line a command prints on stderr: its kind, then the message.
func ErrorLine(err error) string {
	var cfgErr *config.Error
	var usage *UsageError
	var gen *lifecycle.DatasetGenerationError
	kind := "error"
	switch {
	case errors.As(err, &cfgErr):
		kind = "config error"
	case errors.As(err, &usage):
		kind = "usage error"
	case errors.Is(err, lifecycle.ErrAborted):
		kind = "aborted"
	case errors.As(err, &gen):
		kind = "generation error"
	}
	return kind + ": " + oneLine(err.Error())
}

func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

// Connect opens a connection to a deployment for a long-running service, retrying while the
// server is down, and prepares the JetStream layout.
func Connect(ctx context.Context, c *Client, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, *wire.Resources, error) {
	nc, err := nats.Connect(c.URL, c.Options(name, true)...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to %s: %w", c.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	for {
		res, err := c.Layout().Ensure(ctx, js)
		if err == nil {
			return nc, js, res, nil
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, nil, nil, fmt.Errorf("prepare JetStream on %s: %w", c.URL, err)
		}
		log.Warn("JetStream not ready; retrying", "url", c.URL, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Deployment is what a long-running service (worker, sinkd) runs against.
type Deployment struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Res    *wire.Resources
	Layout wire.Layout
	Log    *slog.Logger
}

// Serve connects to the deployment c names, prepares its layout and runs serve until ctx ends;
// the connection is drained afterwards.
func Serve(ctx context.Context, c *Client, name string, serve func(context.Context, Deployment) error) error {
	if err := c.Resolve(); err != nil {
		return err
	}
	log, err := c.Logger()
	if err != nil {
		return err
	}
	if c.URL == "" {
		return &UsageError{Err: fmt.Errorf("--nats-url (or NATS_URL) is required")}
	}
	nc, js, res, err := Connect(ctx, c, name, log)
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	return serve(ctx, Deployment{NC: nc, JS: js, Res: res, Layout: c.Layout(), Log: log})
}

// Redact hides the passwords and tokens of a server URL list, for printing.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
