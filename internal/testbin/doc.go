// Package testbin gives tests real binaries to run as child processes: the NATS tools
// (nats-server, the nats CLI) and the project's own commands (controller, worker, sinkd),
// and a small process harness with captured output and cleanup.
//
// Binaries are looked up first in the folders the Makefile exports and built on demand
// otherwise, so both `make test` and a plain `go test ./...` work on a fresh machine:
//
//   - NATSServer and NATSCLI take $ROWFORGE_TOOLS/<name> when it exists. Otherwise they build
//     the pinned version once per machine into <GOCACHE>/rowforge-tools/<name>-<version>/
//     with `go install`, under a file lock, so parallel test packages do not build twice.
//   - Binary takes $ROWFORGE_BIN/<name> when it exists. Otherwise it builds
//     github.com/rowforge/rowforge/cmd/<name> once per test process (the source may have
//     changed since the last run) into a per-checkout folder of the same cache.
//
// StartProcess runs any binary with stdout and stderr captured into a Buffer, and stops it
// when the test ends (SIGTERM, then SIGKILL after a grace period); the output is logged
// if the test failed. StartNATSServer runs the real nats-server with JetStream on a free
// loopback port and returns once it accepts connections; Kill and Restart make fault tests
// possible (the store directory and the port survive a restart).
//
// On Linux, children get SIGKILL when the test process dies (Pdeathsig), so a test binary
// that panics on -timeout does not leave servers behind.
//
// The package is used by tests only, but is a normal package so any test can import it.
package testbin
