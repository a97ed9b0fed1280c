package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// Serve connects to the deployment c names as a service of role (RoleWorker, RoleSinkd), waits
// until the deployment is set up (see connectService) and runs serve until ctx ends; the
// connection is drained afterwards.
func Serve(ctx context.Context, c *Client, role Role, serve func(context.Context, Deployment) error) error {
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
	nc, js, res, err := connectService(ctx, c, role, log)
	if errors.Is(err, errStoppedWaiting) { // a SIGTERM before the deployment was set up: a clean stop
		log.Info(string(role)+" stopped while waiting for the deployment", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	return serve(ctx, Deployment{NC: nc, JS: js, Res: res, Layout: c.Layout(), Log: log})
}
