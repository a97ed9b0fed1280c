// Package worker is the process that generates row groups: it pulls prepared groups from the
// shared work queue, one per free slot, runs each through the scheduler, and publishes the
// group's explicit outcome. Workers are stateless and interchangeable; a group a worker cannot
// finish is redelivered to another.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/lifestate"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Options tune a worker.
type Options struct {
	ID string // default: host-pid-random
	// Concurrency is how many groups the worker runs at once (default 2); it pulls only when a
	// slot is free, so a group never waits in a client buffer while its AckWait runs.
	Concurrency int
	// MaxConcurrency is how many groups it runs at once while its model seats have room for more
	// requests than its groups make (default 16, at least Concurrency): a group's tail, or groups
	// smaller than the cap, do not leave the endpoint idle.
	MaxConcurrency int
	// TaskConcurrency bounds generator calls in flight within one group (default 256). LLM
	// cells wait for their model's admission, not here: this only has to exceed what the
	// models admit, so that a group never starves an endpoint.
	TaskConcurrency int
	// Scheduler builds the scheduler of a run. The default compiles the run's config; another
	// may bring generators of its own (a test's, which blocks until it is cancelled).
	Scheduler func(rec *wire.RunRecord, taskConcurrency int) (*scheduler.Scheduler, error)
	// LLM tunes model calls (patience, backoff, HTTP client).
	LLM llm.Options
	// Heartbeat is how often the worker renews its rf_workers entry (default 5 s; the bucket
	// expires an entry after 15 s).
	Heartbeat time.Duration
	Logger    *slog.Logger
	// Metrics, when set, records groups, cells, model requests and errors; it is the model
	// calls' observer unless LLM has one.
	Metrics *metrics.Worker
	// Secrets resolves the markers of keys redacted from the run record (see package secrets);
	// nil reads them from the environment only.
	Secrets *secrets.Resolver
}

// Worker pulls and runs groups until its context ends.
type Worker struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	layout wire.Layout
	res    *broker.Resources
	store  *runstore.Store
	pub    *broker.Publisher
	prog   *progress.Reporter // cells and model requests of each run, for the controller's display
	opts   Options
	log    *slog.Logger
	life   *lifestate.State // running while Run pulls groups: for Ready

	mu       sync.Mutex
	runs     map[string]*runEntry                       // compiled runs, by id
	inflight map[string]map[int]context.CancelCauseFunc // run → group → cancel
	aborted  map[string]error                           // runs aborted while this worker ran
	closing  sync.WaitGroup                             // MCP sessions of evicted runs being closed; Run waits

	peers    *peers        // the other live workers, for shares of model caps
	board    *board        // the seats taken in rf_seats
	wake     chan struct{} // a peer, a seat or a group changed: rebalance now
	roomy    signal        // extra fetches were granted
	extra    extra         // fetches granted to the slots beyond Concurrency
	announce sync.Mutex    // orders rf_workers puts; guards announced
	// announced is the demand in the last record put, by run and endpoint.
	announced map[string]map[string]int
}

// New returns a worker. It does not take ownership of nc.
func New(nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *broker.Resources, opts Options) *Worker {
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:4])
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.TaskConcurrency <= 0 {
		opts.TaskConcurrency = 256
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 16
	}
	opts.MaxConcurrency = max(opts.MaxConcurrency, opts.Concurrency)
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{nc: nc, js: js, layout: layout, res: res, store: runstore.New(res.Runs), opts: opts,
		life: lifestate.New("worker"),
		pub:  broker.NewPublisher(js, res.Payloads, nc.MaxPayload()),
		prog: progress.NewReporter(nc, layout, opts.ID, progress.ReporterOptions{Logger: log.With("worker", opts.ID)}),
		log:  log.With("worker", opts.ID), runs: map[string]*runEntry{},
		inflight: map[string]map[int]context.CancelCauseFunc{}, aborted: map[string]error{},
		peers: newPeers(wire.WorkerKey(opts.ID)), board: newBoard(), wake: make(chan struct{}, 1)}
}

// ID is the worker's identity, as it appears in outcomes.
func (w *Worker) ID() string { return w.opts.ID }

// Ready is nil while Run pulls groups, for a health check: an error before the consumer is
// open and once the worker has stopped. It does not follow the NATS connection, which
// reconnects on its own; restarting a worker would not bring the server back sooner.
func (w *Worker) Ready() error { return w.life.Ready() }

// Run pulls and runs groups until ctx ends, then hands back the groups in hand and returns once
// every goroutine it started has stopped.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.Consumer(ctx, w.layout.GroupsStream(), wire.WorkersConsumer)
	if err != nil {
		return fmt.Errorf("worker: open consumer %s: %w", wire.WorkersConsumer, err)
	}
	sub, err := w.nc.Subscribe(w.layout.ControlSubject("*"), w.control)
	if err != nil {
		return fmt.Errorf("worker: subscribe control: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	stopPeers, err := w.peers.watch(ctx, w.nc, w.res.Workers, w.poke)
	if err != nil {
		return fmt.Errorf("worker: watch %s: %w", w.layout.WorkersBucket(), err)
	}
	defer stopPeers()
	stopBoard, err := w.board.watch(ctx, w.nc, w.res.Seats, w.poke)
	if err != nil {
		return fmt.Errorf("worker: watch %s: %w", w.layout.SeatsBucket(), err)
	}
	defer stopBoard()

	w.publishRecord(ctx)
	beat, stopBeat := context.WithCancel(ctx)
	// The heartbeat: a worker whose entry expires is presumed gone. The seats follow the
	// groups in hand and the demand of every worker.
	beating := jsx.Every(beat, w.opts.Heartbeat, w.publishRecord)
	balancing := w.balance(beat)
	w.prog.Start(ctx)
	w.life.Start() // ready by the time the log says so
	w.log.Info("worker started", "concurrency", w.opts.Concurrency, "max_concurrency", w.opts.MaxConcurrency)
	w.produce(ctx, cons)
	w.life.Stop()
	stopBeat()
	<-beating
	<-balancing
	w.prog.Stop() // no group in hand: each run's last progress report
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	w.adjustSeats(dctx, "") // no group in hand: every seat goes back
	_ = w.res.Workers.Delete(dctx, wire.WorkerKey(w.opts.ID))
	w.mu.Lock()
	runs := slices.Collect(maps.Values(w.runs))
	clear(w.runs)
	w.mu.Unlock()
	w.closeRuns(runs) // no group in hand: the MCP sessions are free
	w.closing.Wait()
	w.log.Info("worker stopped")
	return nil
}
