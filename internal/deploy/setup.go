package deploy

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/broker"
)

// Setup creates or updates every stream, shared consumer and bucket of the deployment c names
// and calls report with what it did to each one. It is the one step that needs JetStream
// administration rights (the controller's user has them): workers and sinkd only look the
// resources up and wait until it has run. Running it again changes nothing ("unchanged"),
// unless the layout flags (--replicas, --prefix) or rowforge's layout changed.
func Setup(ctx context.Context, c *Client, report func(broker.Change)) error {
	if err := c.Resolve(); err != nil {
		return err
	}
	if c.URL == "" {
		return &FlagError{Err: fmt.Errorf("--nats-url (or NATS_URL) is required: the server to set up (local mode sets itself up)")}
	}
	nc, js, denials, err := dial(c.URL, append(c.Options(RoleController, "rowforge-controller-setup", false), nats.MaxReconnects(0)))
	if err != nil {
		return err
	}
	defer nc.Close()
	// A user without the administration rights is refused at once: fail then, not after
	// EnsureReport's retries time out.
	ectx, stop := denials.Watch(ctx)
	defer stop()
	if _, err := broker.EnsureReport(ectx, js, c.Layout(), report); err != nil {
		return fmt.Errorf("set up JetStream on %s: %w%s", Redact(c.URL), err,
			c.deniedHint(RoleController, err, "run setup with the controller's or an administrator's credentials"))
	}
	return nil
}
