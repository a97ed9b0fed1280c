package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/internal/broker"
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

// connectService opens a connection to a deployment for a long-running service and prepares
// the JetStream layout, retrying both while the server is down or its JetStream not ready: a
// service may start before its server, and its orchestrator should not have to order them.
func connectService(ctx context.Context, c *Client, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, *broker.Resources, error) {
	nc, js, err := dial(c.URL, c.Options(name, true))
	if err != nil {
		return nil, nil, nil, err
	}
	for {
		res, err := broker.Ensure(ctx, js, c.Layout())
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
