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
// when JetStream cannot be had: the caller owns a connection only once dial succeeded. The
// Denials are the connection's: a call that must not wait for a reply the server will never
// send (its user may not make the request, or not receive the reply) runs in a context of
// their Watch. They are told of the server's refusals before the handler of opts (which logs).
func dial(urls string, opts []nats.Option) (*nats.Conn, jetstream.JetStream, *broker.Denials, error) {
	denials := new(broker.Denials)
	opts = append(opts[:len(opts):len(opts)], func(o *nats.Options) error {
		logged := o.AsyncErrorCB
		o.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
			denials.Handle(nc, sub, err)
			if logged != nil {
				logged(nc, sub, err)
			}
		}
		return nil
	})
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to %s: %w", Redact(urls), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, js, denials, nil
}

// errStoppedWaiting is connectService's error when it was stopped before the deployment was
// there to look up.
var errStoppedWaiting = errors.New("stopped while waiting for the deployment")

// connectService opens a connection to a deployment for a long-running service and looks up
// what the role needs, retrying both while the server is down, its JetStream not ready or the
// deployment not set up yet: a service may start before its server and before `controller
// setup`, and its orchestrator should not have to order them. It creates nothing, so its user
// needs no JetStream administration rights.
//
// A user the server refuses a lookup (or its replies) is an error at once: waiting would not
// change it. A stop (ctx ended) while waiting returns errStoppedWaiting. Each failed lookup is
// told to waiting, for the service's /healthz.
func connectService(ctx context.Context, c *Client, role Role, log *slog.Logger, waiting func(error)) (*nats.Conn, jetstream.JetStream, *broker.Resources, error) {
	nc, js, denials, err := dial(c.URL, c.Options(role, "rowforge-"+string(role), true))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stopWatch := denials.Watch(ctx)
	defer stopWatch()
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
		if denied, ok := errors.AsType[*broker.DeniedError](context.Cause(ctx)); ok {
			err = denied // the lookup only saw its context end
		}
		if _, denied := errors.AsType[*broker.DeniedError](err); denied {
			nc.Close()
			return nil, nil, nil, fmt.Errorf("look up the deployment on %s: %w%s", Redact(c.URL), err,
				c.deniedHint(role, err, "give this "+string(role)+" the lookup rights of its role (deploy/nats/accounts.conf)"))
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, nil, nil, fmt.Errorf("%w: %w", errStoppedWaiting, err)
		}
		waiting(err)
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

// deniedHint is what to tell an operator whose call failed because the server refused its user
// something (err holds a *broker.DeniedError), after the error: for a JetStream API request,
// to run it as a user with the rights (fix, such as "run setup with the controller's or an
// administrator's credentials"); for the reply subscription, to grant the replies or change
// --inbox-prefix. It is "" for other errors.
func (c *Client) deniedHint(role Role, err error, fix string) string {
	denied, ok := errors.AsType[*broker.DeniedError](err)
	switch {
	case !ok:
		return ""
	case denied.JetStreamAPI():
		return ": " + fix
	case denied.Op == "subscription":
		return fmt.Sprintf(": this user may not subscribe to its replies (%s.>): grant it that, or give --inbox-prefix the prefix its account grants", c.Inbox(role))
	}
	return ""
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
