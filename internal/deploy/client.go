package deploy

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Client is how a command reaches a deployment — the servers, its credentials and TLS — and
// where rowforge's resources live on it: the subject prefix (several deployments can share a
// cluster) and the stream replicas. Every command binds the same flags, so an operator learns
// them once.
type Client struct {
	URL                    string // comma-separated server URLs; "" after Resolve: local mode
	Creds, NKey            string // a .creds file (JWT + seed), an nkey seed file
	TLSCA, TLSCert, TLSKey string
	Prefix                 string
	InboxPrefix            string // "" is "_INBOX_<role>": see Options
	Replicas               int
	LogLevel, LogFormat    string
}

// Bind registers the client flags; logLevel is the command's default level.
func (c *Client) Bind(fs *pflag.FlagSet, logLevel string) {
	fs.StringVar(&c.URL, "nats-url", "", "NATS server(s), comma-separated (default $NATS_URL)")
	fs.StringVar(&c.Creds, "creds", "", "NATS credentials file (JWT and nkey seed); user and password may also come from $NATS_USER and $NATS_PASSWORD, a token from $NATS_TOKEN")
	fs.StringVar(&c.NKey, "nkey", "", "NATS nkey seed file")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "CA certificate(s) the server's certificate must chain to (PEM)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "client certificate (PEM), with --tls-key, for servers that verify clients")
	fs.StringVar(&c.TLSKey, "tls-key", "", "client certificate's private key (PEM)")
	fs.StringVar(&c.Prefix, "prefix", "rf", "prefix of rowforge's subjects, streams and buckets, to share a cluster between deployments (all processes of one deployment must agree)")
	fs.StringVar(&c.InboxPrefix, "inbox-prefix", "", "subject prefix of this process's replies (default _INBOX_<role>: _INBOX_controller for run, preview, resume and setup; _INBOX_operator for status and abort; _INBOX_worker; _INBOX_sinkd); the server lets each user subscribe to its own prefix only, so give the one your deployment's accounts grant")
	fs.IntVar(&c.Replicas, "replicas", 1, "replicas of rowforge's streams and buckets: 1 on a single server, 3 on a cluster; applied by controller setup, run, preview and resume (give them all the same; worker and sinkd create nothing and ignore it)")
	fs.StringVar(&c.LogLevel, "log-level", logLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
}

// Resolve fills the URL from $NATS_URL when the flag is not set and checks the flags.
func (c *Client) Resolve() error {
	if c.URL == "" {
		c.URL = os.Getenv("NATS_URL")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &FlagError{Err: errors.New("--tls-cert and --tls-key go together")}
	}
	if c.Creds != "" && c.NKey != "" {
		return &FlagError{Err: errors.New("--creds and --nkey are two ways to authenticate: give one")}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return &FlagError{Err: fmt.Errorf("--replicas must be 1 to 5, got %d", c.Replicas)}
	}
	if c.Prefix != "" {
		if err := wire.ValidToken(c.Prefix); err != nil {
			return &FlagError{Err: fmt.Errorf("--prefix: %w", err)}
		}
	}
	if c.InboxPrefix != "" {
		if err := validSubject(c.InboxPrefix); err != nil {
			return &FlagError{Err: fmt.Errorf("--inbox-prefix: %w", err)}
		}
	}
	return nil
}

// Layout is the deployment's layout: DefaultLayout with the prefix and replicas.
func (c *Client) Layout() wire.Layout {
	l := wire.DefaultLayout()
	if c.Prefix != "" {
		l.Prefix = c.Prefix
	}
	if c.Replicas > 0 {
		l.Replicas = c.Replicas
	}
	return l
}

// Role is a process's part in a deployment. It names the process ("rowforge-<role>") and its
// reply subjects: every role has its own inbox prefix, so that the server can let each user
// subscribe to its own replies and not to another role's (the messages sinkd pulls, say).
type Role string

// The roles of deploy/nats/accounts.conf.
const (
	RoleController Role = "controller"
	RoleWorker     Role = "worker"
	RoleSinkd      Role = "sinkd"
	RoleOperator   Role = "operator"
)

// Inbox is the prefix of the role's reply subjects: --inbox-prefix, or _INBOX_<role>.
func (c *Client) Inbox(role Role) string {
	if c.InboxPrefix != "" {
		return c.InboxPrefix
	}
	return "_INBOX_" + string(role)
}

// Options returns the connection options for a process of role, called name. Every reply it
// gets (requests, JetStream API calls, pulls, KV watches, publish acks) comes on the role's
// inbox prefix. A long-running service retries its first connection too (the server may start
// after it); everything reconnects forever once connected, and pending publishes are retried
// by rowforge's publisher.
func (c *Client) Options(role Role, name string, service bool) []nats.Option {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(service),
		nats.CustomInboxPrefix(c.Inbox(role)), nats.ErrorHandler(c.asyncErrors(role))}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		if o, err := nats.NkeyOptionFromSeed(c.NKey); err == nil {
			opts = append(opts, o)
		} else {
			opts = append(opts, func(*nats.Options) error { return fmt.Errorf("--nkey %s: %w", c.NKey, err) })
		}
	}
	if u, p := os.Getenv("NATS_USER"), os.Getenv("NATS_PASSWORD"); u != "" {
		opts = append(opts, nats.UserInfo(u, p))
	}
	if t := os.Getenv("NATS_TOKEN"); t != "" {
		opts = append(opts, nats.Token(t))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts
}

// asyncErrors logs the errors the server reports apart from any call (a denied subscription
// or publish, a slow consumer): without it nats.go drops them, and a request whose reply the
// user may not receive would only time out. A denied reply subscription gets a hint, as it
// means the accounts grant another inbox prefix than the process uses.
func (c *Client) asyncErrors(role Role) nats.ErrHandler {
	log, err := c.Logger()
	if err != nil {
		log = slog.Default()
	}
	inbox := c.Inbox(role)
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		args := []any{"err", err}
		if sub != nil {
			args = append(args, "subject", sub.Subject)
		}
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `Subscription to "`+inbox+".") {
			log.Error(fmt.Sprintf("NATS: this user may not subscribe to its replies (%s.>): grant it that, or give --inbox-prefix the prefix its account grants", inbox), args...)
			return
		}
		log.Error("NATS: asynchronous error", args...)
	}
}

// validSubject checks a literal subject of dot-separated tokens: no wildcards, spaces or empty
// tokens (nats.go would refuse it at connect with a vaguer message).
func validSubject(s string) error {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("%q is not a literal subject (dot-separated tokens without wildcards or spaces)", s)
		}
	}
	return nil
}
