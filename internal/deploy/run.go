package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/pkg/config"
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

// logger is the run's logger: a caller that gives none still gets the run's warnings.
func (p Params) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
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
	if err := checkModelsBeforeRun(ctx, p.Config, opts.Providers, p.LLM, p.Client.URL != "", p.logger()); err != nil {
		return nil, err
	}
	p.secrets, opts.Providers = redactRun(p.Config, opts.Providers)
	return drive(ctx, p, opts.RunID, func(ctrl *lifecycle.Controller, sink lifecycle.Sink) (*lifecycle.Result, error) {
		return ctrl.Run(ctx, p.Config, opts, sink)
	})
}

// Resume continues run id, whose controller stopped before the run ended, on the deployment at
// p.Client (lifecycle.Controller.Resume); p.Config and p.Run are not used: the run's own are on
// the broker. Local mode has nothing to resume: its server ended with its controller. A run
// that cannot be resumed — unknown, ended, a malformed id — is a *RunIDError.
func Resume(ctx context.Context, p Params, id string) (*Summary, error) {
	if p.Client.URL == "" {
		return nil, &FlagError{Err: errors.New("resume needs the deployment the run ran on: --nats-url (or NATS_URL); " +
			"a local-mode run ended with its embedded server")}
	}
	if err := wire.ValidToken(id); err != nil {
		return nil, &RunIDError{Run: id, Err: fmt.Errorf("run id: %w", err)}
	}
	sum, err := drive(ctx, p, id, func(ctrl *lifecycle.Controller, sink lifecycle.Sink) (*lifecycle.Result, error) {
		return ctrl.Resume(ctx, id, sink)
	})
	var ended *lifecycle.NotResumableError
	if errors.Is(err, lifecycle.ErrUnknownRun) || errors.As(err, &ended) {
		return sum, &RunIDError{Run: id, Err: err}
	}
	return sum, err
}
