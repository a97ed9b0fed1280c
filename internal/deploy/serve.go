package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Deployment is what a long-running service (worker, sinkd) runs against.
type Deployment struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Res    *broker.Resources
	Layout wire.Layout
	Log    *slog.Logger
}

// Service is a long-running service as Serve runs it: Run consumes until ctx ends, Ready is
// nil while it does (for /healthz).
type Service interface {
	Run(ctx context.Context) error
	Ready() error
}

// Observation is where a service serves /metrics, /healthz and /livez (see Observe): Addr ""
// serves nothing; Registry holds the service's metrics.
type Observation struct {
	Addr     string
	Registry *prometheus.Registry
}

// Serve connects to the deployment c names as a service of role (RoleWorker, RoleSinkd), waits
// until the deployment is set up (see connectService), builds the service on it and runs it
// until ctx ends; the connection is drained afterwards.
//
// The observation endpoints answer from the start, before the connection: /livez says the
// process is alive, /healthz why it does not consume yet ("waiting for the deployment: ...")
// and then the service's own Ready. An orchestrator probing a service that waits for `controller
// setup` sees it alive and not ready, rather than nothing at all.
func Serve(ctx context.Context, c *Client, role Role, obs Observation, build func(Deployment) Service) error {
	if err := c.Resolve(); err != nil {
		return err
	}
	log, err := c.Logger()
	if err != nil {
		return err
	}
	if c.URL == "" {
		return &FlagError{Err: fmt.Errorf("--nats-url (or NATS_URL) is required")}
	}
	if obs.Registry == nil {
		obs.Registry = prometheus.NewRegistry()
	}
	var ready readiness
	ready.waiting(errors.New("connecting to NATS"))
	stopObserving, err := Observe(ctx, obs.Addr, obs.Registry, ready.check, log)
	if err != nil {
		return err
	}
	defer stopObserving()
	nc, js, res, err := connectService(ctx, c, role, log, ready.waiting)
	if errors.Is(err, errStoppedWaiting) { // a SIGTERM before the deployment was set up: a clean stop
		log.Info(string(role)+" stopped while waiting for the deployment", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	svc := build(Deployment{NC: nc, JS: js, Res: res, Layout: c.Layout(), Log: log})
	ready.follow(svc.Ready)
	return svc.Run(ctx)
}

// readiness is /healthz's answer: why the service is not there yet, then the service's own.
type readiness struct{ fn atomic.Pointer[func() error] }

// waiting makes the answer err, as what the service waits for.
func (r *readiness) waiting(err error) {
	fn := func() error { return fmt.Errorf("waiting for the deployment: %w", err) }
	r.fn.Store(&fn)
}

// follow makes the answer ready's.
func (r *readiness) follow(ready func() error) { r.fn.Store(&ready) }

func (r *readiness) check() error { return (*r.fn.Load())() }
