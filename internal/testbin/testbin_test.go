package testbin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/testbin"
)

// helperEnv makes the test binary act as a child process for the process tests.
const helperEnv = "TESTBIN_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		goleak.VerifyTestMain(m)
	case "graceful": // exits 0 on SIGTERM
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("helper ready")
		fmt.Fprintln(os.Stderr, "helper stderr")
		<-term
		fmt.Println("helper got SIGTERM")
		os.Exit(0)
	case "stubborn": // ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("helper ready")
		select {}
	default:
		os.Exit(3)
	}
}

func startHelper(t *testing.T, mode string) *testbin.Process {
	t.Helper()
	p := testbin.StartProcess(t, os.Args[0], nil, []string{helperEnv + "=" + mode})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Output.WaitFor(ctx, "helper ready"))
	return p
}

func TestStartProcessCapturesOutputAndStopsGracefully(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "graceful")
	require.False(t, p.Exited())

	require.NoError(t, p.Stop(), "exit status after SIGTERM")
	require.True(t, p.Exited())
	require.Contains(t, p.Output.String(), "helper stderr")
	require.Contains(t, p.Output.String(), "helper got SIGTERM")
	require.NoError(t, p.Stop(), "Stop is idempotent")
}

func TestStopEscalatesToKill(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "stubborn")
	p.StopGrace = 50 * time.Millisecond

	err := p.Stop()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.Equal(t, syscall.SIGKILL, ws.Signal())
}

func TestWaitContextGivesUpButLeavesTheProcess(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "graceful")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, p.WaitContext(ctx), context.Canceled)
	require.False(t, p.Exited(), "a wait that gives up does not stop the process")

	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.NoError(t, p.WaitContext(t.Context()), "exit status after SIGTERM")
}

func TestBufferWaitForHonoursContext(t *testing.T) {
	t.Parallel()
	var b testbin.Buffer
	_, _ = b.Write([]byte("some output"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := b.WaitFor(ctx, "never written")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "some output")
	require.NoError(t, b.WaitFor(t.Context(), "output"))
}

func TestStartNATSServerKillRestartKeepsStream(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t)
	require.Equal(t, fmt.Sprintf("nats://127.0.0.1:%d", srv.Port), srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	const n = 20
	func() {
		nc, js := connect(t, srv.URL)
		defer nc.Close()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     "KEEP",
			Subjects: []string{"keep.>"},
			Storage:  jetstream.FileStorage,
		})
		require.NoError(t, err)
		for i := range n {
			_, err := js.Publish(ctx, fmt.Sprintf("keep.%d", i), fmt.Appendf(nil, "msg-%d", i))
			require.NoError(t, err)
		}
	}()

	srv.Kill()
	require.True(t, srv.Exited())
	var exitErr *exec.ExitError
	require.ErrorAs(t, srv.Wait(), &exitErr, "killed, not a clean exit")

	srv.Restart(t)
	require.False(t, srv.Exited())

	nc, js := connect(t, srv.URL)
	defer nc.Close()
	stream, err := js.Stream(ctx, "KEEP")
	require.NoError(t, err)
	require.EqualValues(t, n, stream.CachedInfo().State.Msgs)
	for i := range n {
		msg, err := stream.GetMsg(ctx, uint64(i+1))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("keep.%d", i), msg.Subject)
		require.Equal(t, fmt.Sprintf("msg-%d", i), string(msg.Data))
	}
}

func TestStartNATSServerExtraArgs(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t, "--server_name", "custom-name", "-D")
	nc, err := nats.Connect(srv.URL)
	require.NoError(t, err)
	defer nc.Close()
	require.Equal(t, "custom-name", nc.ConnectedServerName())
	require.Contains(t, srv.Output.String(), "[DBG]", "debug logging from -D")
}

func TestNATSCLIPublishes(t *testing.T) {
	t.Parallel()
	srv := testbin.StartNATSServer(t)
	nc, err := nats.Connect(srv.URL)
	require.NoError(t, err)
	defer nc.Close()
	sub, err := nc.SubscribeSync("cli.hello")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	cmd := exec.Command(testbin.NATSCLI(t), "--server", srv.URL, "pub", "cli.hello", "hi from the cli")
	home := t.TempDir() // keep the CLI away from the user's contexts
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	msg, err := sub.NextMsg(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "hi from the cli", string(msg.Data))
}

func TestToolPathsAreAbsoluteExecutables(t *testing.T) {
	t.Parallel()
	for _, p := range []string{testbin.NATSServer(t), testbin.NATSCLI(t)} {
		require.True(t, filepath.IsAbs(p), p)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.NotZero(t, fi.Mode().Perm()&0o111, "%s is not executable", p)
	}
}

// TestBinaryBuildsCommands checks the project's commands that exist so far.
func TestBinaryBuildsCommands(t *testing.T) {
	t.Parallel()
	root := testbin.RepoRoot(t)
	for _, name := range []string{"controller", "worker", "sinkd"} {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
				t.Skipf("cmd/%s does not exist yet", name)
			}
			p := testbin.Binary(t, name)
			require.True(t, filepath.IsAbs(p), p)
			require.Equal(t, p, testbin.Binary(t, name), "same binary on a second call")
		})
	}
}

func TestToolVersionsMatchMakefile(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join(testbin.RepoRoot(t), "Makefile"))
	require.NoError(t, err)
	for name, want := range map[string]string{
		"NATS_SERVER_VERSION": testbin.NATSServerVersion,
		"NATSCLI_VERSION":     testbin.NATSCLIVersion,
	} {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:?=\s*(\S+)`).FindSubmatch(mk)
		require.NotNil(t, m, "%s not set in the Makefile", name)
		require.Equal(t, want, string(m[1]), "%s in the Makefile and testbin differ", name)
	}
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}
