package e2e

// Tests of the server configurations in deploy/nats: each starts the real nats-server binary
// on a copy of a config in which only the ports and the store directories are changed (the
// files hold fixed ports, which parallel tests would fight over), and acts on it with the real
// nats CLI, nats.go, or rowforge's own binaries.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// natsconfRoles are the users of deploy/nats/accounts.conf; each takes its password from
// $ROWFORGE_<ROLE>_PASSWORD.
var natsconfRoles = []string{"controller", "worker", "sinkd", "operator"}

var natsconfSeq atomic.Int64

// natsconfDir is deploy/nats of this checkout.
func natsconfDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(testbin.RepoRoot(t), "deploy", "nats")
}

// natsconfFreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func natsconfFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsconfRender returns the file of deploy/nats at rel with each pair of repl (old, new)
// replaced. Each old string must occur exactly once in the original: when a config changes
// shape, this fails loudly instead of testing something else.
func natsconfRender(t *testing.T, rel string, repl ...string) string {
	t.Helper()
	require.Zero(t, len(repl)%2, "pairs of old and new strings")
	b, err := os.ReadFile(filepath.Join(natsconfDir(t), rel))
	require.NoError(t, err)
	s := string(b)
	for i := 0; i < len(repl); i += 2 {
		require.Equalf(t, 1, strings.Count(s, repl[i]), "%s holds %q exactly once", rel, repl[i])
	}
	return strings.NewReplacer(repl...).Replace(s)
}

// natsconfWrite writes content to name in dir and returns its path.
func natsconfWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// natsconfServer is a nats-server started from a rendered config.
type natsconfServer struct {
	*testbin.Process
	URL  string // nats://127.0.0.1:<port>
	Name string // its server name
	Conf string // the rendered config
}

// natsconfStart starts nats-server -c on the config that render writes for a client port and
// a monitoring port, and waits until ready (given the server's URL and name) succeeds. A port
// taken between the probe and the server's bind is retried with other ports.
func natsconfStart(t *testing.T, env []string, render func(client, http int) string,
	ready func(url, name string) error) *natsconfServer {
	t.Helper()
	var output string
	for range 3 {
		port, mport := natsconfFreePort(t), natsconfFreePort(t)
		conf := render(port, mport)
		name := fmt.Sprintf("natsconf-%d-%d", os.Getpid(), natsconfSeq.Add(1))
		p := testbin.StartProcess(t, testbin.NATSServer(t), []string{"-c", conf, "-n", name}, env)
		s := &natsconfServer{Process: p, URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Name: name, Conf: conf}
		err := natsconfPoll(t, p, func() error { return ready(s.URL, name) })
		if err == nil {
			return s
		}
		p.Kill()
		output = p.Output.String()
		if !strings.Contains(output, "address already in use") {
			t.Fatalf("nats-server -c %s: %v\n%s", conf, err, output)
		}
	}
	t.Fatalf("nats-server: no free ports after 3 tries:\n%s", output)
	return nil
}

// natsconfPoll calls try until it succeeds, p exits, or waitTimeout passes.
func natsconfPoll(t *testing.T, p *testbin.Process, try func() error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", waitTimeout, err)
		case <-p.Done():
			return fmt.Errorf("exited (%v): %w", p.Wait(), err)
		case <-poll.C:
		}
	}
}

// natsconfConnectedTo connects with opts and checks the server's name (not another test's
// server that took the port).
func natsconfConnectedTo(url, name string, opts ...nats.Option) error {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(2 * time.Second), nats.NoReconnect(),
		nats.Name("natsconf-readiness")}, opts...)...)
	if err != nil {
		return err
	}
	defer nc.Close()
	if got := nc.ConnectedServerName(); got != name {
		return fmt.Errorf("%s is served by %q, not %q", url, got, name)
	}
	return nil
}

// natsconfSecure is a server on deploy/nats/secure.conf (with accounts.conf beside it, as it
// includes it) and the passwords of its users.
type natsconfSecure struct {
	*natsconfServer
	Passwords map[string]string
}

// UserURL is the server's URL with a role's user and password, as a rowforge process is given it.
func (s *natsconfSecure) UserURL(role string) string {
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword(role, s.Passwords[role])
	return u.String()
}

// natsconfPasswordEnv returns ROWFORGE_<ROLE>_PASSWORD=... for each password.
func natsconfPasswordEnv(pw map[string]string) []string {
	var env []string
	for role, p := range pw {
		env = append(env, "ROWFORGE_"+strings.ToUpper(role)+"_PASSWORD="+p)
	}
	slices.Sort(env)
	return env
}

// natsconfStartSecure starts nats-server on secure.conf and accounts.conf, with random
// passwords in the environment; maxPayload, when set, replaces secure.conf's 8MB.
func natsconfStartSecure(t *testing.T, maxPayload string) *natsconfSecure {
	t.Helper()
	pw := map[string]string{}
	for _, role := range natsconfRoles {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		pw[role] = "rf" + hex.EncodeToString(b) // the shape accounts.conf recommends
	}
	dir := t.TempDir()
	// secure.conf includes ./accounts.conf: the copy sits beside the rendered config.
	natsconfWrite(t, dir, "accounts.conf", natsconfRender(t, "accounts.conf"))
	render := func(port, mport int) string {
		repl := []string{
			"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", port),
			"http: 127.0.0.1:8222", fmt.Sprintf("http: 127.0.0.1:%d", mport),
			"store_dir: /data", fmt.Sprintf("store_dir: %q", filepath.Join(dir, "js")),
		}
		if maxPayload != "" {
			repl = append(repl, "max_payload: 8MB", "max_payload: "+maxPayload)
		}
		return natsconfWrite(t, dir, "secure.conf", natsconfRender(t, "secure.conf", repl...))
	}
	srv := natsconfStart(t, natsconfPasswordEnv(pw), render, func(url, name string) error {
		return natsconfConnectedTo(url, name, nats.UserInfo("controller", pw["controller"]))
	})
	return &natsconfSecure{natsconfServer: srv, Passwords: pw}
}

// natsconfCLIEnv is the environment of the nats CLI: no NATS_* settings and no saved
// contexts of the machine's user, so that only the flags count.
func natsconfCLIEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_CONFIG_HOME="+t.TempDir())
}

// cli runs the nats CLI as role against the server, with the role's inbox prefix (each user
// may subscribe to its own replies only).
func (s *natsconfSecure) cli(t *testing.T, role string, args ...string) result {
	t.Helper()
	return s.cliInbox(t, role, "_INBOX_"+role, args...)
}

// cliInbox runs the nats CLI as role, its replies on inbox.
func (s *natsconfSecure) cliInbox(t *testing.T, role, inbox string, args ...string) result {
	t.Helper()
	full := append([]string{"--server", s.URL, "--user", role, "--password", s.Passwords[role], "--timeout", "3s",
		"--inbox-prefix", inbox}, args...)
	return runCommandEnv(t, "", natsconfCLIEnv(t), testbin.NATSCLI(t), full...)
}

// requireCLI runs the CLI as role and requires it to succeed; it returns its stdout.
func (s *natsconfSecure) requireCLI(t *testing.T, role string, args ...string) string {
	t.Helper()
	res := s.cli(t, role, args...)
	requireCode(t, 0, res, fmt.Sprintf("nats %s (as %s)", strings.Join(args, " "), role))
	return res.Stdout
}

// requireDenied runs the CLI as role and requires it to fail on a publish permission
// violation for subject — reported to the CLI and logged by the server for that user.
func (s *natsconfSecure) requireDenied(t *testing.T, role, subject string, args ...string) {
	t.Helper()
	res := s.cli(t, role, args...)
	what := fmt.Sprintf("nats %s (as %s)", strings.Join(args, " "), role)
	require.NotZerof(t, res.Code, "%s must fail\nstdout:\n%s\nstderr:\n%s", what, res.Stdout, res.Stderr)
	require.Containsf(t, res.Stdout+res.Stderr, fmt.Sprintf("Permissions Violation for Publish to %q", subject),
		"%s: the CLI reports the violation", what)
	s.requireLogged(t, natsconfViolation(role, subject))
}

// natsconfViolation is the server's log line of a denied publish by a user of ROWFORGE.
func natsconfViolation(role, subject string) string {
	return fmt.Sprintf(`"ROWFORGE/user:%s" - Publish Violation - Subject %q`, role, subject)
}

// natsconfSubViolation is the server's log line of a denied subscription by a user of ROWFORGE.
func natsconfSubViolation(role, subject string) string {
	return fmt.Sprintf(`"ROWFORGE/user:%s" - Subscription Violation - Subject %q`, role, subject)
}

// requireSubDenied subscribes to subject with nc (a client of role) and requires the server
// to refuse it: reported to the client (errs) and logged for the user.
func (s *natsconfSecure) requireSubDenied(t *testing.T, nc *nats.Conn, errs <-chan error, role, subject string) {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, nc.Flush())
	select {
	case err := <-errs:
		require.ErrorContains(t, err, fmt.Sprintf("Permissions Violation for Subscription to %q", subject))
	case <-time.After(waitTimeout):
		t.Fatalf("no permission violation for %s's subscription to %s", role, subject)
	}
	s.requireLogged(t, natsconfSubViolation(role, subject))
}

// requireLogged waits until the server has logged line.
func (s *natsconfSecure) requireLogged(t *testing.T, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, s.Output.WaitFor(ctx, line))
}

// violations returns the permission violations in the server's log, without their prefix.
func (s *natsconfSecure) violations() []string {
	var out []string
	for line := range strings.Lines(s.Output.String()) {
		if i := strings.Index(line, `"ROWFORGE/user:`); i >= 0 && strings.Contains(line, "Violation") {
			out = append(out, strings.TrimSpace(line[i:]))
		}
	}
	return out
}

// lastSeq returns the last sequence of a stream, read as the controller.
func (s *natsconfSecure) lastSeq(t *testing.T, stream string) uint64 {
	t.Helper()
	var info struct {
		State struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
	require.NoError(t, json.Unmarshal([]byte(s.requireCLI(t, "controller", "stream", "info", stream, "--json")), &info))
	return info.State.LastSeq
}

// requireNotStored checks that role cannot publish on subject, a subject of stream: the CLI
// fails on a permission violation, and the same subject published right after by the
// controller (who may) is stored with the very next sequence — so the denied message did not
// reach the stream. (Both go through the stream's one ingest queue in order: the denied
// publish was handled by the server before the CLI that sent it exited.)
func (s *natsconfSecure) requireNotStored(t *testing.T, role, stream, subject string) {
	t.Helper()
	before := s.lastSeq(t, stream)
	s.requireDenied(t, role, subject, "pub", subject, "forged by "+role)
	var ack struct {
		Stream string `json:"stream"`
		Seq    uint64 `json:"seq"`
	}
	out := s.requireCLI(t, "controller", "req", "--raw", subject, "from the controller")
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &ack), "publish ack: %q", out)
	require.Equal(t, stream, ack.Stream)
	require.Equal(t, before+1, ack.Seq, "the controller's message directly follows the last one before %s's attempt", role)
}

// client connects with nats.go as role, with the role's inbox prefix; asynchronous errors
// (permission violations) go to errs.
func (s *natsconfSecure) client(t *testing.T, role string) (*nats.Conn, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	nc, err := nats.Connect(s.URL, nats.UserInfo(role, s.Passwords[role]), nats.Name("natsconf-"+role),
		nats.CustomInboxPrefix("_INBOX_"+role),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc, errs
}

// Every config of deploy/nats, as written, passes nats-server's own check (tls.conf needs its
// certificate files: TestNatsConfTLSOnly runs it with real ones).
func TestNatsConfFilesAreValid(t *testing.T) {
	t.Parallel()
	env := append(natsconfCLIEnv(t), natsconfPasswordEnv(map[string]string{
		"controller": "rfc0", "worker": "rfw0", "sinkd": "rfs0", "operator": "rfo0"})...)
	for _, rel := range []string{"nats-server.conf", "secure.conf", "cluster/n1.conf", "cluster/n2.conf", "cluster/n3.conf"} {
		res := runCommandEnv(t, "", env, testbin.NATSServer(t), "-c", filepath.Join(natsconfDir(t), rel), "-t")
		requireCode(t, 0, res, "nats-server -t -c "+rel)
	}
}

// The accounts of deploy/nats/accounts.conf, through secure.conf, on a real server: each
// role's user may do what the role does and is refused the data-plane subjects of the others.
func TestNatsConfAccountsDenyAndAllow(t *testing.T) {
	t.Parallel()
	srv := natsconfStartSecure(t, "")

	// Fail closed: without a password variable the server does not start, and without a user
	// nobody connects.
	env := natsconfCLIEnv(t)
	for _, e := range natsconfPasswordEnv(srv.Passwords) {
		if !strings.HasPrefix(e, "ROWFORGE_SINKD_PASSWORD=") {
			env = append(env, e)
		}
	}
	check := runCommandEnv(t, "", env, testbin.NATSServer(t), "-c", srv.Conf, "-t")
	require.NotZero(t, check.Code, "a config whose password variable is unset is invalid")
	require.Contains(t, check.Stdout+check.Stderr, "ROWFORGE_SINKD_PASSWORD")
	_, err := nats.Connect(srv.URL, nats.NoReconnect())
	require.ErrorContains(t, err, "Authorization Violation", "no anonymous clients")
	_, err = nats.Connect(srv.URL, nats.NoReconnect(), nats.UserInfo("worker", srv.Passwords["controller"]))
	require.ErrorContains(t, err, "Authorization Violation", "a user with another role's password")

	// The controller creates the streams and buckets, as Ensure would (in shape, not in
	// every setting).
	srv.requireCLI(t, "controller", "stream", "add", "RF_GROUPS", "--subjects", "rf.groups.>",
		"--retention", "work", "--storage", "file", "--replicas", "1", "--defaults")
	srv.requireCLI(t, "controller", "stream", "add", "RF_SINK", "--subjects", "rf.sink.>",
		"--retention", "work", "--storage", "file", "--replicas", "1", "--defaults")
	srv.requireCLI(t, "controller", "kv", "add", "rf_runs")
	srv.requireCLI(t, "controller", "kv", "add", "rf_workers", "--storage", "memory")
	srv.requireCLI(t, "controller", "kv", "put", "rf_runs", "run1", `{"state":"running"}`)

	// A worker cannot send finalized groups to sinkd; sinkd and the operator cannot send work.
	srv.requireNotStored(t, "worker", "RF_SINK", "rf.sink.run1.group.0")
	srv.requireNotStored(t, "sinkd", "RF_GROUPS", "rf.groups.run1.0")
	srv.requireNotStored(t, "operator", "RF_GROUPS", "rf.groups.run1.1")

	// A worker reads rf_runs but cannot change it.
	srv.requireDenied(t, "worker", "$KV.rf_runs.run1", "kv", "put", "rf_runs", "run1", `{"state":"completed"}`)
	require.Equal(t, `{"state":"running"}`, strings.TrimSpace(srv.requireCLI(t, "worker", "kv", "get", "rf_runs", "run1", "--raw")))
	require.Equal(t, `{"state":"running"}`, strings.TrimSpace(srv.requireCLI(t, "operator", "kv", "get", "rf_runs", "run1", "--raw")))
	// Nor can it create any stream (controller setup does that). The CLI first asks for the
	// account's JetStream info, which a worker may not either.
	srv.requireDenied(t, "worker", "$JS.API.STREAM.CREATE.EVIL", "stream", "add", "EVIL", "--subjects", "evil.>", "--defaults")
	srv.requireLogged(t, natsconfViolation("worker", "$JS.API.INFO"))

	// Workers and sinkd cannot create, update or delete a stream or a consumer of the
	// deployment: they only look them up.
	srv.requireCLI(t, "controller", "consumer", "add", "RF_GROUPS", "workers", "--pull", "--ack", "explicit", "--defaults")
	var denied []string
	for _, role := range []string{"worker", "sinkd"} {
		for _, req := range []struct{ subject, body string }{
			{"$JS.API.STREAM.CREATE.RF_OUTCOMES", `{"name":"RF_OUTCOMES","subjects":["rf.outcomes.>"]}`},
			{"$JS.API.STREAM.UPDATE.RF_GROUPS", `{"name":"RF_GROUPS","subjects":["rf.groups.>"],"max_msgs":1}`},
			{"$JS.API.STREAM.UPDATE.RF_SINK", `{"name":"RF_SINK","subjects":["rf.sink.>"],"republish":{"src":">","dest":"_INBOX_worker.x"}}`},
			{"$JS.API.STREAM.UPDATE.KV_rf_runs", `{"name":"KV_rf_runs","subjects":["$KV.rf_runs.>"],"max_msgs":1}`},
			{"$JS.API.STREAM.DELETE.RF_SINK", ``},
			{"$JS.API.CONSUMER.CREATE.RF_SINK.sinkd", `{"stream_name":"RF_SINK","config":{"durable_name":"sinkd","ack_policy":"none"}}`},
			{"$JS.API.CONSUMER.CREATE.RF_GROUPS.workers", `{"stream_name":"RF_GROUPS","config":{"durable_name":"workers","ack_policy":"none"}}`},
			{"$JS.API.CONSUMER.DURABLE.CREATE.RF_GROUPS.evil", `{"stream_name":"RF_GROUPS","config":{"durable_name":"evil"}}`},
			{"$JS.API.CONSUMER.DELETE.RF_GROUPS.workers", ``},
		} {
			// A request to the API is a publish to its subject: the CLI's pub shows the refusal.
			srv.requireDenied(t, role, req.subject, "pub", req.subject, req.body)
			denied = append(denied, natsconfViolation(role, req.subject))
		}
	}
	// Both are still there, as the controller made them.
	srv.requireCLI(t, "controller", "stream", "info", "RF_SINK")
	srv.requireCLI(t, "controller", "consumer", "info", "RF_GROUPS", "workers")

	// Replies are private to a role: a worker cannot subscribe to sinkd's inbox, the
	// controller's or the plain _INBOX.>, nor sinkd to the worker's; each gets its own.
	wc, werrs := srv.client(t, "worker")
	sc, serrs := srv.client(t, "sinkd")
	oc, oerrs := srv.client(t, "operator")
	subDenied := []string{}
	for _, d := range []struct {
		nc      *nats.Conn
		errs    <-chan error
		role    string
		subject string
	}{
		{wc, werrs, "worker", "_INBOX_sinkd.>"},
		{wc, werrs, "worker", "_INBOX_controller.>"},
		{wc, werrs, "worker", "_INBOX.>"},
		{wc, werrs, "worker", ">"},
		{sc, serrs, "sinkd", "_INBOX_worker.>"},
		{sc, serrs, "sinkd", "_INBOX.>"},
		{oc, oerrs, "operator", "_INBOX_controller.>"},
	} {
		srv.requireSubDenied(t, d.nc, d.errs, d.role, d.subject)
		subDenied = append(subDenied, natsconfSubViolation(d.role, d.subject))
	}
	// Its own inbox works (nats.go requests on _INBOX_worker), and the CLI with the default
	// _INBOX prefix is refused the subscription of its replies.
	_, err = wc.Request("$JS.API.STREAM.INFO.KV_rf_runs", nil, waitTimeout)
	require.NoError(t, err, "a worker's request with its own inbox prefix")
	plain := srv.cliInbox(t, "worker", "_INBOX", "kv", "get", "rf_runs", "run1", "--raw")
	require.NotZero(t, plain.Code, "the CLI without the worker's inbox prefix gets no reply:\n%s%s", plain.Stdout, plain.Stderr)
	srv.requireLogged(t, `"ROWFORGE/user:worker" - Subscription Violation - Subject "_INBOX.`)

	// A worker cannot listen to the finalized groups either.
	srv.requireSubDenied(t, wc, werrs, "worker", "rf.sink.>")

	// rowforge's own commands say so when the accounts refuse their reply inbox (here the
	// operator's status, told to use the plain _INBOX).
	wrong := controller(t, "", "status", "--nats-url", srv.UserURL("operator"), "--inbox-prefix", "_INBOX")
	require.NotZero(t, wrong.Code, "status without the operator's inbox:\n%s", wrong.Stderr)
	require.Contains(t, wrong.Stderr, "this user may not subscribe to its replies (_INBOX.>)")

	// The operator aborts a run with the nats CLI, as the README shows; a worker's
	// subscription (rf.control.*, as workers subscribe) receives it.
	ctl, err := wc.SubscribeSync("rf.control.*")
	require.NoError(t, err)
	require.NoError(t, wc.Flush())
	abort := `{"op":"abort","reason":"wrong config"}`
	srv.requireCLI(t, "operator", "pub", "rf.control.run1", abort)
	msg, err := ctl.NextMsg(waitTimeout)
	require.NoError(t, err, "the worker receives the operator's abort")
	require.Equal(t, "rf.control.run1", msg.Subject)
	require.Equal(t, abort, string(msg.Data))

	// Exactly the violations above, and none from the permitted actions (the CLI's own
	// lookups included).
	want := []string{
		natsconfViolation("worker", "rf.sink.run1.group.0"),
		natsconfViolation("sinkd", "rf.groups.run1.0"),
		natsconfViolation("operator", "rf.groups.run1.1"),
		natsconfViolation("worker", "$KV.rf_runs.run1"),
		natsconfViolation("worker", "$JS.API.STREAM.CREATE.EVIL"),
		natsconfViolation("worker", "$JS.API.INFO"),
	}
	want = append(append(want, denied...), subDenied...)
	got := srv.violations()
	for _, w := range want {
		require.Truef(t, slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, w) }),
			"violation %q logged; got %q", w, got)
	}
	for _, l := range got {
		ok := strings.Contains(l, `Subscription Violation - Subject "rf.sink.>"`) ||
			strings.HasPrefix(l, `"ROWFORGE/user:worker" - Subscription Violation - Subject "_INBOX.`) || // the CLI's default inbox
			strings.HasPrefix(l, `"ROWFORGE/user:operator" - Subscription Violation - Subject "_INBOX.`) || // status --inbox-prefix _INBOX
			slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(l, w) })
		require.Truef(t, ok, "unexpected violation %q", l)
	}
}

// rowforge's own binaries, each as its role's user, on secure.conf: builds (bodies through the
// object store), an LLM dataset (model seats, kept cells), a preview, a resume after the
// controller's kill -9, and status and abort by the operator all work, and the server logs no
// permission violation at all — so the users are allowed everything the processes do.
func TestNatsConfRolesRunRowforge(t *testing.T) {
	t.Parallel()
	// 256 KiB: 5000-row groups of the quickstart (~0.4 MiB) go through rf_payloads.
	srv := natsconfStartSecure(t, "256KB")
	out := t.TempDir()
	var services []*testbin.Process
	for range 2 {
		services = append(services, testbin.StartProcess(t, testbin.Binary(t, "worker"),
			[]string{"--nats-url", srv.UserURL("worker")}, nil))
	}
	services = append(services, testbin.StartProcess(t, testbin.Binary(t, "sinkd"),
		[]string{"--nats-url", srv.UserURL("sinkd"), "--out", out}, nil))
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	// Nothing is set up yet: the services wait, and say what for, until the controller user
	// runs controller setup (their users could not create anything).
	for _, p := range services {
		require.NoError(t, p.Output.WaitFor(ctx, `waiting for the deployment: `), p.Output.String())
		require.NoError(t, p.Output.WaitFor(ctx, `missing; run \"controller setup\"`), p.Output.String())
	}
	ctrlURL := srv.UserURL("controller")
	setup := controller(t, "", "setup", "--nats-url", ctrlURL)
	requireCode(t, 0, setup, "setup as the controller user")
	require.Regexp(t, `(?m)^stream\s+RF_GROUPS\s+created$`, setup.Stdout)
	require.Regexp(t, `(?m)^consumer\s+RF_SINK/sinkd\s+created$`, setup.Stdout)
	require.Regexp(t, `(?m)^object store\s+rf_payloads\s+created$`, setup.Stdout)
	again := controller(t, "", "setup", "--nats-url", ctrlURL)
	requireCode(t, 0, again, "setup again")
	require.Len(t, strings.Fields(again.Stdout), 12*3+1, again.Stdout) // 12 resources ("object store" is two words)
	require.Equal(t, 12, strings.Count(again.Stdout, " unchanged\n"), "setup is idempotent:\n%s", again.Stdout)
	for _, p := range services {
		require.NoError(t, p.Output.WaitFor(ctx, " started"))
	}

	run := controller(t, "", "run", "-f", quickstartPath(t), "-n", "10000", "--buffer-size", "5000",
		"--seed", "3", "--name", "secure", "--nats-url", ctrlURL)
	requireCode(t, 0, run, "run as the controller user")
	require.Equal(t, 10000, readDataset(t, filepath.Join(out, "secure")).rows())
	cnc, _ := srv.client(t, "controller") // on _INBOX_controller, as the controller's user must
	js, err := jetstream.New(cnc)
	require.NoError(t, err)
	objs, err := js.Stream(t.Context(), "OBJ_rf_payloads")
	require.NoError(t, err)
	require.NotZero(t, objs.CachedInfo().State.LastSeq, "bodies went through the object store")

	stub := llmstub.New(llmstub.Options{})
	llm := controller(t, "", "run", "-f", llmDataset(t, stub.Start(t), 4), "-n", "200", "--buffer-size", "100",
		"--name", "llm", "--nats-url", ctrlURL)
	requireCode(t, 0, llm, "LLM run as the controller user")
	require.Equal(t, 200, readDataset(t, filepath.Join(out, "llm")).rows())

	preview := controller(t, "", "preview", "-f", quickstartPath(t), "-n", "5", "--json", "--nats-url", ctrlURL)
	requireCode(t, 0, preview, "preview as the controller user")

	// A long run whose controller dies is resumed (the ledger, the run's consumers), then
	// aborted by the operator, after a look at its status.
	long, id := startRun(t, ctrlURL, "run", "-f", quickstartPath(t), "-n", "50000000", "--buffer-size", "2000",
		"--nats-url", ctrlURL, "--name", "long")
	long.Kill()
	runs, err := js.KeyValue(t.Context(), "rf_runs")
	require.NoError(t, err)
	done := natsconfGroupsDone(t, runs, id)
	resumed := testbin.StartProcess(t, testbin.Binary(t, "controller"), []string{"resume", id, "--nats-url", ctrlURL}, nil)
	require.NoError(t, natsconfPoll(t, resumed, func() error {
		if now := natsconfGroupsDone(t, runs, id); now <= done {
			return fmt.Errorf("the resumed run has committed no group yet (%d done before)", done)
		}
		return nil
	}), resumed.Output.String())

	opURL := srv.UserURL("operator")
	status := controller(t, "", "status", "--nats-url", opURL)
	requireCode(t, 0, status, "status as the operator")
	require.Regexp(t, id+`\s+running`, status.Stdout)
	abort := controller(t, "", "abort", id, "--nats-url", opURL)
	requireCode(t, 0, abort, "abort as the operator")
	require.Contains(t, abort.Stdout, "run "+id+": aborted")
	var exit *exec.ExitError
	require.True(t, errors.As(waitExit(t, resumed, runTimeout, nil), &exit), resumed.Output.String())
	require.Equal(t, 3, exit.ExitCode(), resumed.Output.String())

	stopGracefully(t, services...)
	require.Empty(t, srv.violations(), "the processes did nothing their users may not")
	// Nor did the clients hear of any (rowforge logs the server's asynchronous errors).
	for _, p := range append(services, long, resumed) {
		require.NotContains(t, p.Output.String(), "Permissions Violation", p.Cmd.Path)
		require.NotContains(t, p.Output.String(), "NATS: ", p.Cmd.Path)
	}
	for _, r := range []result{setup, run, llm, preview, status, abort} {
		require.NotContains(t, r.Stderr, "Permissions Violation")
	}
}

// TestNatsConfSetupByAUserWithoutTheRights runs controller setup and run as users to whom
// accounts.conf gives no JetStream administration rights: the server refuses their API
// requests without answering them, and the commands fail at once, naming the refused subject
// and what to do, rather than retrying until their requests time out. (runCommand's deadline
// only keeps a regression from hanging the test.)
func TestNatsConfSetupByAUserWithoutTheRights(t *testing.T) {
	t.Parallel()
	srv := natsconfStartSecure(t, "")
	const fix = `: run setup with the controller's or an administrator's credentials`
	refused := func(res result) string {
		t.Helper()
		m := regexp.MustCompile(`the server refused "([^"]+)" to this user \(permissions violation on (\w+)\)`).FindStringSubmatch(res.Stderr)
		require.NotNil(t, m, "the refusal is named\nstderr:\n%s", res.Stderr)
		return m[2] + " " + m[1]
	}
	for _, role := range []string{"worker", "sinkd", "operator"} {
		// On the user's own inbox prefix, the first API request that creates is refused.
		setup := controller(t, "", "setup", "--nats-url", srv.UserURL(role), "--inbox-prefix", "_INBOX_"+role)
		requireCode(t, 1, setup, "setup as "+role)
		require.Regexp(t, `^publish \$JS\.API\.STREAM\.(CREATE|UPDATE|INFO)\.RF_GROUPS$`, refused(setup), role)
		require.Contains(t, setup.Stderr, "error: set up JetStream on "+strings.Replace(srv.UserURL(role), srv.Passwords[role], "xxxxx", 1)+
			": stream RF_GROUPS: the server refused ", role)
		require.Contains(t, setup.Stderr, "(permissions violation on publish)"+fix+"\n", role)
		require.NotContains(t, setup.Stderr, srv.Passwords[role])
		require.Empty(t, setup.Stdout, "nothing was set up")
	}

	// On the controller's inbox prefix (the default of setup), the user may not even receive
	// the replies: that is refused first, and said so.
	setup := controller(t, "", "setup", "--nats-url", srv.UserURL("worker"))
	requireCode(t, 1, setup, "setup as the worker on the controller's inbox")
	require.Regexp(t, `^subscription _INBOX_controller\.`, refused(setup))
	require.Contains(t, setup.Stderr, "this user may not subscribe to its replies (_INBOX_controller.>): grant it that, or give --inbox-prefix the prefix its account grants\n")

	// controller run ensures the deployment too.
	run := controller(t, "", "run", "-f", quickstartPath(t), "-n", "10", "--name", "denied",
		"--nats-url", srv.UserURL("worker"), "--inbox-prefix", "_INBOX_worker")
	requireCode(t, 1, run, "run as the worker")
	require.Regexp(t, `^publish \$JS\.API\.STREAM\.(CREATE|UPDATE)\.RF_GROUPS$`, refused(run))
	require.Contains(t, run.Stderr, ": run the controller with its own user's or an administrator's credentials\n")

	// Nothing was created, and the controller's user still sets the deployment up.
	ok := controller(t, "", "setup", "--nats-url", srv.UserURL("controller"))
	requireCode(t, 0, ok, "setup as the controller user")
	require.Regexp(t, `(?m)^stream\s+RF_GROUPS\s+created$`, ok.Stdout)
}

// natsconfGroupsDone returns the groups a run has committed, from its record in rf_runs.
func natsconfGroupsDone(t *testing.T, runs jetstream.KeyValue, id string) int {
	t.Helper()
	e, err := runs.Get(t.Context(), id)
	require.NoError(t, err)
	rec, err := wire.DecodeRunRecord(e.Value())
	require.NoError(t, err)
	return rec.Progress.GroupsDone
}

// The three node configs of deploy/nats/cluster form one JetStream cluster: a stream of three
// replicas can be created and lives on the three nodes.
func TestNatsConfThreeNodeClusterForms(t *testing.T) {
	t.Parallel()
	names := []string{"n1", "n2", "n3"}
	var nodes []*testbin.Process
	var urls []string
	started := false
	for attempt := 0; attempt < 3 && !started; attempt++ {
		nodes, urls = natsconfStartCluster(t, names)
		started = nodes != nil
	}
	require.True(t, started, "no free ports after 3 tries")
	servers := strings.Join(urls, ",")
	cli := func(args ...string) result {
		return runCommandEnv(t, "", natsconfCLIEnv(t), testbin.NATSCLI(t),
			append([]string{"--server", servers, "--timeout", "5s"}, args...)...)
	}

	// JetStream answers once the nodes have elected a meta leader: until then, creating a
	// replicated stream fails.
	var add result
	err := natsconfPoll(t, nodes[0], func() error {
		add = cli("stream", "add", "RF_CHECK", "--subjects", "check.>", "--replicas", "3", "--storage", "file", "--defaults")
		if add.Code != 0 {
			return fmt.Errorf("nats stream add: exit %d: %s", add.Code, add.Stderr)
		}
		return nil
	})
	require.NoError(t, err, "an R3 stream on the cluster")

	var info struct {
		Config struct {
			Replicas int `json:"num_replicas"`
		} `json:"config"`
		Cluster struct {
			Name     string `json:"name"`
			Leader   string `json:"leader"`
			Replicas []struct {
				Name    string `json:"name"`
				Current bool   `json:"current"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	err = natsconfPoll(t, nodes[0], func() error {
		res := cli("stream", "info", "RF_CHECK", "--json")
		if res.Code != 0 {
			return fmt.Errorf("nats stream info: exit %d: %s", res.Code, res.Stderr)
		}
		if err := json.Unmarshal([]byte(res.Stdout), &info); err != nil {
			return err
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return fmt.Errorf("replica %s is not current yet", r.Name)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, info.Config.Replicas)
	require.Equal(t, "rowforge", info.Cluster.Name)
	peers := []string{info.Cluster.Leader}
	for _, r := range info.Cluster.Replicas {
		peers = append(peers, r.Name)
	}
	slices.Sort(peers)
	require.Equal(t, names, peers, "the leader and two replicas, one on each node")
}

// natsconfStartCluster starts the nodes of deploy/nats/cluster with free ports and their own
// store directories, and waits until each serves clients. It returns nil if a port was taken
// in the meantime (the caller tries again with others).
func natsconfStartCluster(t *testing.T, names []string) ([]*testbin.Process, []string) {
	t.Helper()
	dir := t.TempDir()
	n := len(names)
	client, route, mon := make([]int, n), make([]int, n), make([]int, n)
	for i := range n {
		client[i], route[i], mon[i] = natsconfFreePort(t), natsconfFreePort(t), natsconfFreePort(t)
	}
	var nodes []*testbin.Process
	var urls []string
	for i, name := range names {
		repl := []string{
			"server_name: " + name, "server_name: " + name, // checked, kept
			"  name: rowforge\n", "  name: rowforge\n",
			"listen: 0.0.0.0:" + strconv.Itoa(4222+i), fmt.Sprintf("listen: 127.0.0.1:%d", client[i]),
			"http: 127.0.0.1:" + strconv.Itoa(8222+i), fmt.Sprintf("http: 127.0.0.1:%d", mon[i]),
			"store_dir: /data/" + name, fmt.Sprintf("store_dir: %q", filepath.Join(dir, name)),
			"listen: 127.0.0.1:" + strconv.Itoa(6222+i), fmt.Sprintf("listen: 127.0.0.1:%d", route[i]),
		}
		for j := range n {
			repl = append(repl, "nats-route://127.0.0.1:"+strconv.Itoa(6222+j), fmt.Sprintf("nats-route://127.0.0.1:%d", route[j]))
		}
		conf := natsconfWrite(t, dir, name+".conf", natsconfRender(t, filepath.Join("cluster", name+".conf"), repl...))
		nodes = append(nodes, testbin.StartProcess(t, testbin.NATSServer(t), []string{"-c", conf}, nil))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	for i, p := range nodes {
		if err := natsconfPoll(t, p, func() error { return natsconfConnectedTo(urls[i], names[i]) }); err != nil {
			taken := false
			for _, q := range nodes {
				q.Kill()
				taken = taken || strings.Contains(q.Output.String(), "address already in use")
			}
			if taken {
				return nil, nil
			}
			t.Fatalf("node %s: %v\n%s", names[i], err, p.Output.String())
		}
	}
	return nodes, urls
}

// deploy/nats/tls.conf with a CA and a server certificate made here: a client that does not
// speak TLS is disconnected, one that does not trust the CA is refused, and one given the CA
// (nats.go, the nats CLI) works.
func TestNatsConfTLSOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, cert, key := natsconfCertificates(t, dir)
	render := func(port, mport int) string {
		return natsconfWrite(t, dir, "tls.conf", natsconfRender(t, "tls.conf",
			"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", port),
			"http: 127.0.0.1:8222", fmt.Sprintf("http: 127.0.0.1:%d", mport),
			"store_dir: /data", fmt.Sprintf("store_dir: %q", filepath.Join(dir, "js")),
			`"/etc/nats/tls/server-cert.pem"`, strconv.Quote(cert),
			`"/etc/nats/tls/server-key.pem"`, strconv.Quote(key),
			`"/etc/nats/tls/ca.pem"`, strconv.Quote(ca),
		))
	}
	srv := natsconfStart(t, nil, render, func(url, name string) error {
		return natsconfConnectedTo(url, name, nats.RootCAs(ca))
	})
	require.Contains(t, srv.Output.String(), "TLS required for client connections")
	addr := strings.TrimPrefix(srv.URL, "nats://")

	// Plain NATS protocol: the server announces that TLS is required and closes the connection
	// without ever answering the client's PING.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(waitTimeout)))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "INFO "), line)
	var info struct {
		TLSRequired bool `json:"tls_required"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info))
	require.True(t, info.TLSRequired, "INFO says tls_required: %s", line)
	_, err = conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n"))
	require.NoError(t, err)
	rest, err := io.ReadAll(r)
	require.Falsef(t, errors.Is(err, os.ErrDeadlineExceeded), "the server closes a plain connection (read: %v)", err)
	require.NotContains(t, string(rest), "PONG", "a plain client is never served")

	// nats.go without the CA: it starts TLS (the server requires it) and refuses the
	// certificate.
	_, err = nats.Connect(srv.URL, nats.NoReconnect(), nats.Timeout(5*time.Second))
	require.ErrorContains(t, err, "certificate signed by unknown authority")

	// nats.go with the CA: a round trip over TLS.
	nc, err := nats.Connect(srv.URL, nats.NoReconnect(), nats.RootCAs(ca))
	require.NoError(t, err)
	defer nc.Close()
	state, err := nc.TLSConnectionState()
	require.NoError(t, err)
	require.True(t, state.HandshakeComplete)
	sub, err := nc.SubscribeSync("tls.check")
	require.NoError(t, err)
	require.NoError(t, nc.Publish("tls.check", []byte("over tls")))
	msg, err := sub.NextMsg(waitTimeout)
	require.NoError(t, err)
	require.Equal(t, "over tls", string(msg.Data))

	// The nats CLI, with and without --tlsca.
	env := natsconfCLIEnv(t)
	tlsURL := "tls://" + addr
	ok := runCommandEnv(t, "", env, testbin.NATSCLI(t), "--server", tlsURL, "--tlsca", ca, "--timeout", "5s",
		"pub", "tls.check", "from the cli")
	requireCode(t, 0, ok, "nats pub with --tlsca")
	refused := runCommandEnv(t, "", env, testbin.NATSCLI(t), "--server", srv.URL, "--timeout", "5s",
		"pub", "tls.check", "from the cli")
	require.NotZero(t, refused.Code, "nats pub without the CA\n%s", refused.Stderr)
	require.Contains(t, refused.Stdout+refused.Stderr, "certificate signed by unknown authority")

	// rowforge end to end over TLS: worker, sinkd and controller with --tls-ca.
	out := t.TempDir()
	tlsFlags := []string{"--nats-url", srv.URL, "--tls-ca", ca}
	setupDeployment(t, srv.URL, "--tls-ca", ca)
	w := testbin.StartProcess(t, testbin.Binary(t, "worker"), tlsFlags, nil)
	sk := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), append(tlsFlags, "--out", out), nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, w.Output.WaitFor(ctx, "worker started"))
	require.NoError(t, sk.Output.WaitFor(ctx, "sinkd started"))
	run := controller(t, "", append([]string{"run", "-f", quickstartPath(t), "-n", "5000", "--buffer-size", "1000",
		"--name", "overtls"}, tlsFlags...)...)
	requireCode(t, 0, run, "a run over TLS")
	require.Equal(t, 5000, readDataset(t, filepath.Join(out, "overtls")).rows())
	stopGracefully(t, w, sk)
}

// natsconfCertificates writes a CA and a server certificate for 127.0.0.1 and localhost,
// signed by it, into dir, and returns the paths of the CA, the certificate and its key.
func natsconfCertificates(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rowforge test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	require.NoError(t, err)

	write := func(name, typ string, der []byte) string {
		return natsconfWrite(t, dir, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server-cert.pem", "CERTIFICATE", srvDER),
		write("server-key.pem", "PRIVATE KEY", keyDER)
}
