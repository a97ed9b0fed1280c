// Package local is rowforge's zero-setup mode: a real nats-server with JetStream embedded in the
// process, with workers and a sink daemon beside it, each on its own connection, so a local run
// takes the same code paths as a deployment. The server listens on loopback, so an operator can
// still reach a local run with the nats CLI.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/secrets"
	"github.com/rowforge/rowforge/internal/sinkd"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/wire"
)

// MaxPayload of the embedded server. Row groups are Arrow IPC bodies of a few MB; larger ones
// still go through the object store. The server warns above 8 MiB.
const MaxPayload = 8 << 20

// Options configure a local deployment.
type Options struct {
	Workers           int // in-process workers (default 2)
	WorkerConcurrency int // groups per worker (default 2)
	Out               string
	Layout            wire.Layout
	Logger            *slog.Logger
	LLM               llm.Options // the workers' model calls
	// Secrets are the run's literal keys, redacted from what is published (secrets.Redact):
	// the in-process workers get them here, in memory.
	Secrets secrets.Store
}

// Cluster is a running local deployment. Stop ends it.
type Cluster struct {
	srv    *server.Server
	dir    string
	layout wire.Layout
	log    *slog.Logger
	conns  []*nats.Conn
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	errs   chan error
}

// Start boots the server, prepares the JetStream layout and starts the workers and sinkd.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Layout.Prefix == "" {
		opts.Layout = wire.DefaultLayout()
		// The store dies with the process, so durability on disk buys nothing here.
		opts.Layout.Storage = jetstream.MemoryStorage
	}
	dir, err := os.MkdirTemp("", "rowforge-nats-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir, layout: opts.Layout, log: opts.Logger, errs: make(chan error, opts.Workers+1)}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	c.srv, err = server.NewServer(&server.Options{
		ServerName: "rowforge-local", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, MaxPayload: MaxPayload, NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go c.srv.Start()
	if !c.srv.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("embedded nats-server did not become ready")
	}

	_, js, err := c.Connect("rowforge-setup")
	if err != nil {
		return nil, err
	}
	res, err := broker.Ensure(ctx, js, opts.Layout)
	if err != nil {
		return nil, err
	}

	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c.cancel = cancel
	for i := range opts.Workers {
		nc, js, err := c.Connect(fmt.Sprintf("rowforge-worker-%d", i))
		if err != nil {
			return nil, err
		}
		w := worker.New(nc, js, opts.Layout, res, worker.Options{
			ID: fmt.Sprintf("local-%d", i), Concurrency: opts.WorkerConcurrency, Logger: opts.Logger, LLM: opts.LLM,
			Secrets: &secrets.Resolver{Memory: opts.Secrets}})
		c.goRun(func() error { return w.Run(wctx) })
	}
	snc, sjs, err := c.Connect("rowforge-sinkd")
	if err != nil {
		return nil, err
	}
	sd := sinkd.NewService(snc, sjs, opts.Layout, res, sinkd.Options{Out: opts.Out, Logger: opts.Logger})
	c.goRun(func() error { return sd.Run(wctx) })
	return c, nil
}

func (c *Cluster) goRun(fn func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := fn(); err != nil {
			c.errs <- err
		}
	}()
}

// URL is the client URL of the embedded server.
func (c *Cluster) URL() string { return c.srv.ClientURL() }

// Layout is the JetStream layout the cluster uses.
func (c *Cluster) Layout() wire.Layout { return c.layout }

// Connect opens a connection (closed by Stop) and its JetStream context.
func (c *Cluster) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.srv.ClientURL(), nats.Name(name))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the embedded server: %w", err)
	}
	c.conns = append(c.conns, nc)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, err
	}
	return nc, js, nil
}

// Stop stops the workers and sinkd, waits for them, then shuts the server down and removes its
// store. It is safe to call more than once.
func (c *Cluster) Stop() {
	if c.cancel != nil {
		// The whole deployment is going away: the services' fetches end at once, instead of
		// running to their expiry as a lone stopping worker's must.
		c.cancel(jsx.ErrAbandonFetches)
	}
	c.wg.Wait()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}
