package deploy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/natstest"
)

// Each role's replies come on its own prefix, unless --inbox-prefix says otherwise; a prefix
// that is not a literal subject is a flag mistake.
func TestInboxPrefix(t *testing.T) {
	t.Parallel()
	var c Client
	for _, role := range []Role{RoleController, RoleWorker, RoleSinkd, RoleOperator} {
		require.Equal(t, "_INBOX_"+string(role), c.Inbox(role))
	}
	c.InboxPrefix, c.Replicas = "_R.team2.worker", 1
	require.NoError(t, c.Resolve())
	require.Equal(t, "_R.team2.worker", c.Inbox(RoleWorker))
	for _, bad := range []string{"_INBOX.*", "a..b", "a.>", "a b", "a."} {
		c := Client{InboxPrefix: bad, Replicas: 1}
		err := c.Resolve()
		var fe *FlagError
		require.ErrorAs(t, err, &fe, bad)
		require.ErrorContains(t, err, "--inbox-prefix", bad)
	}

	s := natstest.RunServer(t)
	c = Client{URL: s.ClientURL()}
	nc, err := nats.Connect(c.URL, c.Options(RoleSinkd, "test", false)...)
	require.NoError(t, err)
	defer nc.Close()
	require.True(t, strings.HasPrefix(nc.NewInbox(), "_INBOX_sinkd."), nc.NewInbox())
}

// A service started before controller setup waits, saying what is missing and what to run,
// and starts once the deployment exists.
func TestConnectServiceWaitsForSetup(t *testing.T) {
	t.Parallel()
	s := natstest.RunServer(t)
	c := &Client{URL: s.ClientURL(), Replicas: 1}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type conn struct {
		res *broker.Resources
		err error
	}
	done := make(chan conn, 1)
	go func() {
		nc, _, res, err := connectService(ctx, c, RoleWorker, log, func(error) {})
		if err == nil {
			nc.Close()
		}
		done <- conn{res, err}
	}()
	require.NoError(t, logs.waitFor(ctx, `waiting for the deployment: stream RF_OUTCOMES missing; run \"controller setup\"`))
	var report bytes.Buffer
	require.NoError(t, Setup(ctx, c, func(ch broker.Change) { report.WriteString(ch.Action + "\n") }))
	require.Equal(t, 12, strings.Count(report.String(), "created\n"), report.String())
	got := <-done
	require.NoError(t, got.err)
	require.NotNil(t, got.res.Seats)
}

// syncBuffer is a log destination a test can wait on.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == nil {
		b.written = make(chan struct{})
	}
	close(b.written)
	b.written = make(chan struct{})
	return b.buf.Write(p)
}

// waitFor returns once s has been written, or ctx's error.
func (b *syncBuffer) waitFor(ctx context.Context, s string) error {
	for {
		b.mu.Lock()
		if b.written == nil {
			b.written = make(chan struct{})
		}
		found, next := strings.Contains(b.buf.String(), s), b.written
		b.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next:
		}
	}
}

// controller setup as a user the server refuses the JetStream API, or the replies of the
// controller's inbox prefix, fails with the refusal (not after its retries time out) and says
// what to do about it.
func TestSetupByAUserWithoutTheRights(t *testing.T) {
	t.Parallel()
	s := natstest.RunServerWithOptions(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "reader", Password: "pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.INFO"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_controller.>"}},
			}},
			{Username: "deaf", Password: "pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_deaf.>"}},
			}},
		}
	})
	// A guard against a hang only: the retries would end long before it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for user, want := range map[string]string{
		"reader": `: run setup with the controller's or an administrator's credentials`,
		"deaf":   `: this user may not subscribe to its replies (_INBOX_controller.>): grant it that, or give --inbox-prefix the prefix its account grants`,
	} {
		c := &Client{URL: strings.Replace(s.ClientURL(), "nats://", "nats://"+user+":pw@", 1), Replicas: 1}
		err := Setup(ctx, c, func(broker.Change) { t.Errorf("%s: a change was reported", user) })
		denied, ok := errors.AsType[*broker.DeniedError](err)
		require.True(t, ok, "%s: %v", user, err)
		require.ErrorContains(t, err, `the server refused "`+denied.Subject+`" to this user`, user)
		require.True(t, strings.HasSuffix(err.Error(), want), "%s: %v", user, err)
		require.NotContains(t, err.Error(), ":pw@", "the password is redacted")
	}
}

// A worker or sinkd that waits for `controller setup` and is stopped stops cleanly; one whose
// user the server refuses the lookups fails at once, saying so, rather than wait for ever.
func TestServeWaitsStopsAndFailsOnARefusal(t *testing.T) {
	t.Parallel()
	s := natstest.RunServerWithOptions(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "worker", Password: "pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.INFO.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_worker.>"}},
			}},
			{Username: "reader", Password: "pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.INFO"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_worker.>"}},
			}},
			{Username: "deaf", Password: "pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_deaf.>"}},
			}},
		}
	})
	url := func(user string) string { return strings.Replace(s.ClientURL(), "nats://", "nats://"+user+":pw@", 1) }
	serve := func(Deployment) Service {
		t.Error("served without a deployment")
		return nil
	}

	stopped, cancel := context.WithCancel(t.Context())
	cancel() // SIGTERM while nothing is set up
	require.NoError(t, Serve(stopped, &Client{URL: url("worker"), Replicas: 1}, RoleWorker, Observation{}, serve))

	ctx, cancelGuard := context.WithTimeout(t.Context(), time.Minute) // a guard against a hang only
	defer cancelGuard()
	for _, user := range []string{"reader", "deaf"} {
		err := Serve(ctx, &Client{URL: url(user), Replicas: 1}, RoleWorker, Observation{}, serve)
		denied, ok := errors.AsType[*broker.DeniedError](err)
		require.True(t, ok, "%s: %v", user, err)
		require.ErrorContains(t, err, `the server refused "`+denied.Subject+`" to this user`, user)
		require.NotContains(t, err.Error(), ":pw@", "the password is redacted")
	}
	require.NoError(t, ctx.Err(), "they failed before the guard")
}

// status and abort as a user the server refuses the lookup fail at once, naming the refusal,
// rather than when the request times out.
func TestOperatorRefusedFailsAtOnce(t *testing.T) {
	t.Parallel()
	s := natstest.RunServerWithOptions(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "reader", Password: "pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.INFO"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_operator.>"}},
		}}}
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a guard against a hang only
	defer cancel()
	op, err := Dial(&Client{URL: strings.Replace(s.ClientURL(), "nats://", "nats://reader:pw@", 1), Replicas: 1})
	require.NoError(t, err)
	defer op.Close()
	_, _, err = op.Status(ctx, "")
	denied, ok := errors.AsType[*broker.DeniedError](err)
	require.True(t, ok, "%v", err)
	require.ErrorContains(t, err, `the server refused "`+denied.Subject+`" to this user`)
	require.ErrorContains(t, err, "run status and abort as the operator user")
	_, err = op.Abort(ctx, "r1", "why", 0)
	_, ok = errors.AsType[*broker.DeniedError](err)
	require.True(t, ok, "%v", err)
	require.NoError(t, ctx.Err(), "they failed before the guard")
}
