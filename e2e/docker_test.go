package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/testbin"
)

var (
	imagesOnce sync.Once
	imagesErr  error
	imagesOut  string
)

// e2eImages builds the FROM scratch images once per test binary (make images
// IMAGE_TAG=composeImageTag), for every test that runs containers; it skips the test when no
// Docker engine answers.
func e2eImages(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker engine (docker info: %v)", err)
	}
	imagesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), composeImagesTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "images", "IMAGE_TAG="+composeImageTag)
		cmd.Dir = testbin.RepoRoot(t)
		cmd.Env = envWithout("MAKEFLAGS", "MFLAGS", "MAKELEVEL") // not make test's jobserver
		out, err := cmd.CombinedOutput()
		imagesOut, imagesErr = string(out), err
	})
	require.NoError(t, imagesErr, "make images:\n%s", imagesOut)
}

// docker runs a docker command and returns its trimmed output, failing the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s:\n%s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
