package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/wire"
)

// violation is the error nats.go gives its ErrHandler for the server's -ERR line text (see
// nats.go's processErr: it wraps ErrPermissionViolation around the line without its quotes).
func violation(text string) error {
	return fmt.Errorf("%w: %s", nats.ErrPermissionViolation, text)
}

func TestParseDenied(t *testing.T) {
	for _, c := range []struct {
		err     error
		ok      bool
		op, sub string
		jsAPI   bool
	}{
		{violation(`Permissions Violation for Publish to "$JS.API.STREAM.CREATE.RF_GROUPS"`), true, "publish", "$JS.API.STREAM.CREATE.RF_GROUPS", true},
		{violation(`Permissions Violation for Publish to "$JS.hub.API.CONSUMER.CREATE.RF_SINK"`), true, "publish", "$JS.hub.API.CONSUMER.CREATE.RF_SINK", true},
		{violation(`Permissions Violation for Publish to "$JS.ACK.API.c.1.2.3.4.5"`), true, "publish", "$JS.ACK.API.c.1.2.3.4.5", false},
		{violation(`Permissions Violation for Publish to "rf.groups.x"`), true, "publish", "rf.groups.x", false},
		{violation(`Permissions Violation for Subscription to "_INBOX_controller.abc.*"`), true, "subscription", "_INBOX_controller.abc.*", false},
		{violation(`Permissions Violation for Subscription to "rf.>" using queue "q"`), true, "subscription", "rf.>", false},
		{violation(`Permissions Violation for Subscription to "rf.>" (sid "7")`), true, "subscription", "rf.>", false},
		{violation(`Permissions Violation for Subscription to "a.b.c", too many tokens`), true, "subscription", "a.b.c", false},
		{violation(`Permissions Violation for Publish with Reply of "_INBOX.x"`), true, "publish with reply", "_INBOX.x", false},
		{violation(`Permissions Violation for Publish to "say \"hi\""`), true, "publish", `say "hi"`, false},
		// Another wording, or a subject that is not quoted: still a denial, of an unknown subject.
		{violation(`Permissions Violation for Teleport to "x"`), true, "unknown", "", false},
		{violation(`Permissions Violation for Publish to x`), true, "unknown", "", false},
		{violation(`something else`), true, "unknown", "", false},
		{nats.ErrPermissionViolation, true, "unknown", "", false},
		{fmt.Errorf("stream X: %w", violation(`Permissions Violation for Publish to "$JS.API.INFO"`)), true, "publish", "$JS.API.INFO", true},
		// Not a permissions violation, though it says so.
		{errors.New(`nats: permissions violation: Permissions Violation for Publish to "$JS.API.INFO"`), false, "", "", false},
		{nats.ErrTimeout, false, "", "", false},
		{nil, false, "", "", false},
	} {
		d, ok := ParseDenied(c.err)
		require.Equal(t, c.ok, ok, "%v", c.err)
		if !ok {
			require.Nil(t, d)
			continue
		}
		require.Equal(t, c.op, d.Op, "%v", c.err)
		require.Equal(t, c.sub, d.Subject, "%v", c.err)
		require.Equal(t, c.jsAPI, d.JetStreamAPI(), "%v", c.err)
		require.ErrorIs(t, d, nats.ErrPermissionViolation, "it wraps what nats.go reported")
	}
}

func FuzzParseDenied(f *testing.F) {
	for _, s := range []string{
		`Permissions Violation for Publish to "$JS.API.STREAM.CREATE.RF_GROUPS"`,
		`Permissions Violation for Subscription to "rf.>" using queue "q"`,
		`Permissions Violation for Publish with Reply of "_INBOX.x"`,
		`Permissions Violation for Publish to "`,
		`Permissions Violation for `,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, ok := ParseDenied(violation(text))
		require.True(t, ok)
		require.NotEmpty(t, d.Op)
		require.NotEmpty(t, d.Error())
		if d.Op == "unknown" {
			require.Empty(t, d.Subject)
		}
		// What the server writes with %q parses back to the subject.
		sub := text
		d, ok = ParseDenied(violation("Permissions Violation for Publish to " + strconv.Quote(sub)))
		require.True(t, ok)
		require.Equal(t, "publish", d.Op)
		require.Equal(t, sub, d.Subject)
	})
}

func TestSettleReturnsTheDenial(t *testing.T) {
	denied := &DeniedError{Op: "publish", Subject: "$JS.API.STREAM.CREATE.S", Err: nats.ErrPermissionViolation}
	ctx, cancel := context.WithCancelCause(t.Context())
	calls := 0
	_, err := settle(ctx, func(ctx context.Context) (int, error) {
		calls++
		cancel(denied) // as Denials.Handle does while the request waits for its reply
		<-ctx.Done()
		return 0, ctx.Err()
	})
	require.Equal(t, 1, calls, "a refusal is not retried")
	got, ok := errors.AsType[*DeniedError](err)
	require.True(t, ok, "%v", err)
	require.Same(t, denied, got)

	// A context ended for another reason ends settle with the call's own error.
	ctx, stop := context.WithCancel(t.Context())
	stop()
	_, err = settle(ctx, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	require.ErrorIs(t, err, context.Canceled)

	// Failures of the server are retried as before.
	calls = 0
	v, err := settle(t.Context(), func(context.Context) (int, error) {
		if calls++; calls < 3 {
			return 0, jetstream.ErrStreamNameAlreadyInUse
		}
		return 7, nil
	})
	require.NoError(t, err)
	require.Equal(t, 7, v)
	require.Equal(t, 3, calls)
}

func TestDenialsEndOnlyWatchedCallsAndOnlyForRefusalsTheyWaitOn(t *testing.T) {
	var d Denials
	api := violation(`Permissions Violation for Publish to "$JS.API.STREAM.CREATE.S"`)
	d.Handle(nil, nil, api) // nothing watched yet: nothing to end, nothing remembered
	ctx, stop := d.Watch(t.Context())
	defer stop()
	for _, err := range []error{
		violation(`Permissions Violation for Publish to "rf.groups.x"`),         // data: its publisher's business
		violation(`Permissions Violation for Subscription to "rf.sink.>"`),      // not the replies
		violation(`Permissions Violation for Subscription to "_INBOX_x.abc.*"`), // another prefix than _INBOX
		nats.ErrSlowConsumer,
	} {
		d.Handle(nil, nil, err)
		require.NoError(t, ctx.Err(), "%v", err)
	}
	other, stopOther := d.Watch(t.Context())
	stopOther()
	d.Handle(nil, nil, api)
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	cause, ok := errors.AsType[*DeniedError](context.Cause(ctx))
	require.True(t, ok, "%v", context.Cause(ctx))
	require.Equal(t, "$JS.API.STREAM.CREATE.S", cause.Subject)
	_, ok = errors.AsType[*DeniedError](context.Cause(other))
	require.False(t, ok, "a stopped watch is not ended by a later denial")

	// The replies of the default inbox prefix: no request can be answered.
	ctx, stop = d.Watch(t.Context())
	defer stop()
	d.Handle(nil, nil, violation(`Permissions Violation for Subscription to "_INBOX.abc.*"`))
	cause, ok = errors.AsType[*DeniedError](context.Cause(ctx))
	require.True(t, ok)
	require.Equal(t, "subscription", cause.Op)

	// A nil *Denials watches nothing.
	var none *Denials
	ctx, stop = none.Watch(t.Context())
	none.Handle(nil, nil, api)
	require.NoError(t, ctx.Err())
	stop()
	require.Error(t, ctx.Err())
}

// deniedServer runs an embedded server with an administrator ("admin") and a user that may
// only read streams and receive its replies on inbox ("reader"), as deploy/nats/accounts.conf
// has users that may not create anything.
func deniedServer(t *testing.T, readerInbox string) *server.Server {
	t.Helper()
	return natstest.RunServerWithOptions(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "admin"},
			{Username: "reader", Password: "reader", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.INFO.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{readerInbox + ".>"}},
			}},
		}
	})
}

// ensureAsReader runs EnsureReport as the reader, on inbox, in a context of the connection's
// Denials, and returns its error and what it reported.
func ensureAsReader(t *testing.T, s *server.Server, inbox string) (error, []Change) {
	t.Helper()
	var denials Denials
	nc := natstest.Connect(t, s, nats.UserInfo("reader", "reader"), nats.CustomInboxPrefix(inbox), nats.ErrorHandler(denials.Handle))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// A guard against a hang only: settle's retries would end long before it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ctx, stop := denials.Watch(ctx)
	defer stop()
	var changes []Change
	_, err = EnsureReport(ctx, js, wire.DefaultLayout(), func(c Change) { changes = append(changes, c) })
	return err, changes
}

func TestEnsureByAUserWithoutTheRightsFailsWithTheDenial(t *testing.T) {
	s := deniedServer(t, "_INBOX_reader")
	err, changes := ensureAsReader(t, s, "_INBOX_reader")
	denied, ok := errors.AsType[*DeniedError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "publish", denied.Op)
	require.True(t, denied.JetStreamAPI(), denied.Subject)
	require.Regexp(t, `^\$JS\.API\.STREAM\.(CREATE|UPDATE)\.RF_GROUPS$`, denied.Subject)
	require.ErrorContains(t, err, `stream RF_GROUPS: the server refused "`+denied.Subject+`" to this user (permissions violation on publish)`)
	require.Empty(t, changes, "nothing was made")

	// The administrator still may, and the reader's failure left nothing in the way.
	nc := natstest.Connect(t, s, nats.UserInfo("admin", "admin"))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = Ensure(t.Context(), js, wire.DefaultLayout())
	require.NoError(t, err)
}

func TestEnsureWithoutTheRepliesFailsWithTheDenial(t *testing.T) {
	// The reader may receive on _INBOX_reader only, and asks on _INBOX_elsewhere.
	s := deniedServer(t, "_INBOX_reader")
	err, _ := ensureAsReader(t, s, "_INBOX_elsewhere")
	denied, ok := errors.AsType[*DeniedError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "subscription", denied.Op)
	require.Regexp(t, `^_INBOX_elsewhere\.`, denied.Subject)
}
