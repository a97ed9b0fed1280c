package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

const (
	// composeImagesTimeout bounds `make images`: on a cold build cache it compiles every
	// package again (-trimpath), a few minutes on a 2-core machine.
	composeImagesTimeout = 8 * time.Minute
	// composeTimeout bounds one compose or docker command, waiting for the controller included.
	composeTimeout = 3 * time.Minute
	// composeImageTag tags the images this test builds, so that it leaves `make images`'
	// rowforge/*:dev alone (the layers are the same).
	composeImageTag = "e2e"
)

// composeCLI returns the compose command of this machine: `docker compose` (v2), else
// docker-compose (v1), or nil when there is neither.
func composeCLI() []string {
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		args := append(c[1:len(c):len(c)], "version")
		if exec.Command(c[0], args...).Run() == nil {
			return c
		}
	}
	return nil
}

// composeExec runs name with args in dir with env and returns its combined output; it fails
// the test when the command cannot run or, with mustSucceed, exits non-zero.
func composeExec(t *testing.T, timeout time.Duration, dir string, env []string, mustSucceed bool, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil && mustSucceed {
		t.Fatalf("%s %s: %v (context: %v)\n%s", name, strings.Join(args, " "), err, ctx.Err(), out.String())
	}
	return out.String(), err
}

// TestComposeUp builds the images (make images) and runs deploy/docker-compose.yml as `make
// compose-up` does — nats, a one-shot controller setup, sinkd, two workers, the controller's
// one-shot quickstart run — under
// its own project name, with the artifacts in a temp folder, then checks the dataset against a
// local-mode run with the same seed.
func TestComposeUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds docker images and runs a compose project")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no usable Docker engine (docker info: %v): %s", err, lastLine(string(out)))
	}
	compose := composeCLI()
	if compose == nil {
		t.Skip("Docker has no compose: neither `docker compose` nor docker-compose works")
	}
	t.Parallel()
	root := testbin.RepoRoot(t)

	e2eImages(t) // as the Makefile builds them (nothing is pulled: FROM scratch)

	artifacts := t.TempDir()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	project := fmt.Sprintf("rowforge-e2e-%d-%s", os.Getpid(), hex.EncodeToString(suffix))
	env := append(envWithout("COMPOSE_PROJECT_NAME", "COMPOSE_FILE"),
		"ROWFORGE_TAG="+composeImageTag,
		"ROWFORGE_ARTIFACTS="+artifacts,
		"ROWFORGE_UID="+strconv.Itoa(os.Getuid()),
		"ROWFORGE_GID="+strconv.Itoa(os.Getgid()))
	base := append(compose[1:len(compose):len(compose)], "--project-name", project, "--file", filepath.Join(root, "deploy", "docker-compose.yml"))
	run := func(mustSucceed bool, args ...string) (string, error) {
		t.Helper()
		return composeExec(t, composeTimeout, root, env, mustSucceed, compose[0], append(base[:len(base):len(base)], args...)...)
	}
	// Registered after t.TempDir, so it runs before the artifacts are removed.
	t.Cleanup(func() {
		if out, err := run(false, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	run(true, "up", "--detach")
	// The controller's container, by compose's labels (v1 and v2 alike, one-off containers aside).
	ctrl, _ := composeExec(t, composeTimeout, root, env, true, "docker", "ps", "--all", "--quiet",
		"--filter", "label=com.docker.compose.project="+project,
		"--filter", "label=com.docker.compose.service=controller",
		"--filter", "label=com.docker.compose.oneoff=False")
	ctrl = strings.TrimSpace(ctrl)
	require.Regexp(t, `^[0-9a-f]+$`, ctrl, "one controller container")
	code, _ := composeExec(t, composeTimeout, root, env, true, "docker", "wait", ctrl)
	logs, _ := composeExec(t, composeTimeout, root, env, true, "docker", "logs", ctrl)
	t.Logf("compose up to the controller's exit: %v; controller log:\n%s", time.Since(start).Round(time.Millisecond), logs)
	if strings.TrimSpace(code) != "0" {
		all, _ := run(false, "logs", "--no-color")
		t.Fatalf("the controller exited with %s; the project's logs:\n%s", strings.TrimSpace(code), all)
	}
	// The one-shot setup created the deployment before the services started, so none of them
	// had to wait for it.
	setupLog, _ := run(true, "logs", "--no-color", "setup")
	require.Regexp(t, `stream\s+RF_GROUPS\s+created`, setupLog)
	require.Regexp(t, `object store\s+rf_payloads\s+created`, setupLog)
	services, _ := run(true, "logs", "--no-color", "worker", "sinkd")
	require.NotContains(t, services, "waiting for the deployment", "the services start after setup")
	last := lastLine(logs)
	require.Regexp(t, `^run [0-9a-z]+ completed: 1000 of 1000 records in 1 groups \(0 groups dropped\)`, last)
	require.True(t, strings.HasSuffix(last, "dataset /artifacts/quickstart"), "last line %q names the dataset folder in sinkd's container", last)

	dir := filepath.Join(artifacts, "quickstart")
	ds := readDataset(t, dir)
	require.Equal(t, 1000, ds.Meta.ActualNumRecords)
	require.Equal(t, 1000, ds.Meta.TargetNumRecords)
	require.Equal(t, 1, ds.Meta.TotalNumBatches)
	require.Equal(t, uint64(42), ds.Meta.Seed)
	require.Equal(t, "quickstart", ds.Meta.DatasetName)
	require.Equal(t, "completed", ds.Meta.Outcome)
	require.Equal(t, []string{"parquet-files/batch_00000.parquet"}, ds.Batches)
	require.Equal(t, ds.Batches, ds.Meta.FilePaths["parquet-files"])
	require.Equal(t, 1000, ds.rows())

	// The containers ran as this user: the files are its own, removable without root.
	for _, f := range ds.AllFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		sys, ok := st.Sys().(*syscall.Stat_t)
		require.True(t, ok)
		require.Equal(t, uint32(os.Getuid()), sys.Uid, "%s: owner", f)
	}

	// The same seed gives the same values as a local-mode run.
	out := t.TempDir()
	requireCode(t, 0, controller(t, "", "run", "-f", quickstartPath(t), "-n", "1000", "--seed", "42", "--out", out), "local controller run")
	requireIdentical(t, ds, readDataset(t, filepath.Join(out, "quickstart")), 1000)
}
