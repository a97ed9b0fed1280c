package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/pkg/wire"
)

// dial connects to the servers of urls and opens JetStream on the connection, which it closes
// when JetStream cannot be had: the caller owns a connection only once dial succeeded.
func dial(urls string, opts []nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", urls, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// connectService opens a connection to a deployment for a long-running service and looks up
// what the role needs, retrying both while the server is down, its JetStream not ready or the
// deployment not set up yet: a service may start before its server and before `controller
// setup`, and its orchestrator should not have to order them. It creates nothing, so its user
// needs no JetStream administration rights.
func connectService(ctx context.Context, c *Client, role Role, log *slog.Logger) (*nats.Conn, jetstream.JetStream, *broker.Resources, error) {
	nc, js, err := dial(c.URL, c.Options(role, "rowforge-"+string(role), true))
	if err != nil {
		return nil, nil, nil, err
	}
	need, err := roleNeeds(role, c.Layout())
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	const maxWait = 5 * time.Second
	wait := 250 * time.Millisecond
	for {
		res, err := broker.Lookup(ctx, js, c.Layout(), need)
		if err == nil {
			return nc, js, res, nil
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, nil, nil, fmt.Errorf("look up the deployment on %s: %w", Redact(c.URL), err)
		}
		if missing, ok := errors.AsType[*broker.MissingError](err); ok {
			log.Warn(fmt.Sprintf("waiting for the deployment: %s; run \"controller setup\"", missing), "url", Redact(c.URL))
		} else {
			log.Warn("JetStream not ready; retrying", "url", Redact(c.URL), "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// roleNeeds is what a service of role looks up.
func roleNeeds(role Role, l wire.Layout) (broker.Needs, error) {
	switch role {
	case RoleWorker:
		return broker.WorkerNeeds(l), nil
	case RoleSinkd:
		return broker.SinkdNeeds(l), nil
	}
	return broker.Needs{}, fmt.Errorf("no service of role %q", role)
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
