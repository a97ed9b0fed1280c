package testbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Versions of the NATS tools. Keep them in sync with NATS_SERVER_VERSION and
// NATSCLI_VERSION in the Makefile (TestToolVersionsMatchMakefile checks this).
const (
	NATSServerVersion = "v2.15.2"
	NATSCLIVersion    = "v0.5.0"
)

// ModulePath is the import path of this repository's module.
const ModulePath = "github.com/rowforge/rowforge"

// Environment variables the Makefile sets for `make test`.
const (
	// EnvTools names a folder holding prebuilt nats-server and nats binaries.
	EnvTools = "ROWFORGE_TOOLS"
	// EnvBin names a folder holding prebuilt controller, worker and sinkd binaries.
	EnvBin = "ROWFORGE_BIN"
)

type tool struct {
	name    string // binary name
	pkg     string // main package for `go install pkg@version`
	version string
}

var (
	natsServerTool = tool{name: "nats-server", pkg: "github.com/nats-io/nats-server/v2", version: NATSServerVersion}
	natsCLITool    = tool{name: "nats", pkg: "github.com/nats-io/natscli/nats", version: NATSCLIVersion}
)

// NATSServer returns the absolute path of a nats-server binary of NATSServerVersion:
// $ROWFORGE_TOOLS/nats-server if it exists, else one built into the shared tools cache
// (about a minute the first time on a machine; later calls only stat a file).
// It fails the test if the binary cannot be built.
func NATSServer(t testing.TB) string {
	t.Helper()
	return toolPath(t, natsServerTool)
}

// NATSCLI returns the absolute path of a nats CLI binary of NATSCLIVersion, found or built
// like NATSServer.
func NATSCLI(t testing.TB) string {
	t.Helper()
	return toolPath(t, natsCLITool)
}

func toolPath(t testing.TB, tl tool) string {
	t.Helper()
	if p, ok := fromEnvDir(EnvTools, tl.name); ok {
		return p
	}
	root, err := cacheRoot()
	if err != nil {
		t.Fatalf("testbin: %s: %v", tl.name, err)
	}
	dir := filepath.Join(root, tl.name+"-"+tl.version)
	final := filepath.Join(dir, tl.name)
	if isFile(final) {
		return final
	}
	err = buildLocked(dir, final, false, func(tmp string) *exec.Cmd {
		t.Logf("testbin: building %s %s into %s (once per machine; %s skips this)", tl.name, tl.version, dir, EnvTools)
		cmd := goCommand("install", tl.pkg+"@"+tl.version)
		cmd.Dir = dir // outside any module: pkg@version ignores the current module anyway
		cmd.Env = append(cmd.Env, "GOBIN="+tmp)
		return cmd
	})
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return final
}

// Binary returns the absolute path of the project's command cmd/<name> (controller, worker,
// sinkd): $ROWFORGE_BIN/<name> if it exists, else the command built from the current source
// with `go build` once per test process (later calls, from any test, reuse it).
// It fails the test with the compiler output if the build fails.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if p, ok := fromEnvDir(EnvBin, name); ok {
		return p
	}
	p, err := buildOnce(name, ModulePath+"/cmd/"+name)
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return p
}

// Program returns the path of a main package of the module (pkg relative to its root, such
// as "internal/mcpstub/cmd/mcpstub"), built from the current source once per test process.
func Program(t testing.TB, pkg string) string {
	t.Helper()
	p, err := buildOnce(path.Base(pkg), ModulePath+"/"+pkg)
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return p
}

// RepoRoot returns the folder holding the module's go.mod, found by walking up from the
// test's working directory (go test runs each package in its own folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	return root
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*buildResult{}
)

// buildOnce builds the main package pkg as <cache>/<name>, once per process and name.
// The result, including a failure, is shared by every later call.
func buildOnce(name, pkg string) (string, error) {
	buildsMu.Lock()
	r, ok := builds[name]
	if !ok {
		r = &buildResult{}
		builds[name] = r
	}
	buildsMu.Unlock()
	// Errors are returned, not reported with t.Fatal inside Do: Fatal's Goexit would mark the
	// Once done with an empty result.
	r.once.Do(func() { r.path, r.err = buildMain(name, pkg) })
	return r.path, r.err
}

func buildMain(name, pkg string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := cacheRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cache, "bin-"+hex.EncodeToString(sum[:6])) // one folder per checkout
	final := filepath.Join(dir, name)
	err = buildLocked(dir, final, true, func(tmp string) *exec.Cmd {
		cmd := goCommand("build", "-o", filepath.Join(tmp, name), pkg)
		cmd.Dir = root
		return cmd
	})
	return final, err
}

// buildLocked runs the command made by mk, which must write filepath.Base(final) into the
// temporary folder it is given, and renames the result to final. It holds a lock on dir
// across processes (and a mutex within this one). Unless rebuild is set, an existing final
// file is kept: it was built by another process while this one waited for the lock.
// The rename makes the new file appear whole, so readers that do not take the lock (and
// processes still running the old file) are safe.
func buildLocked(dir, final string, rebuild bool, mk func(tmp string) *exec.Cmd) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	if !rebuild && isFile(final) {
		return nil
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := mk(tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), cmd.Dir, err, out.String())
	}
	built := filepath.Join(tmp, filepath.Base(final))
	if !isFile(built) {
		return fmt.Errorf("%s: %s was not produced\n%s", strings.Join(cmd.Args, " "), built, out.String())
	}
	return os.Rename(built, final)
}

var buildMu sync.Mutex

// goCommand returns `go <args>` with static linking, as `make build` does. go test puts
// $GOROOT/bin first on the PATH of test binaries, so this is the go that runs the tests.
func goCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

var cacheRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" || dir == "off" {
		if dir, err = os.UserCacheDir(); err != nil {
			dir = os.TempDir()
		}
	}
	return filepath.Join(dir, "rowforge-tools"), nil
})

func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above " + wd)
		}
		dir = parent
	}
}

// fromEnvDir returns $env/name as an absolute path if the variable is set and the file exists.
func fromEnvDir(env, name string) (string, bool) {
	dir := os.Getenv(env)
	if dir == "" {
		return "", false
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil || !isFile(p) {
		return "", false
	}
	return p, true
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
