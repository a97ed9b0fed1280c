// Command controller runs rowforge datasets: it owns each run's row groups from plan to
// metadata. With no --nats-url (nor NATS_URL) it runs everything in one process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rowforge/rowforge/internal/runner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if _, _, err := root.Find(os.Args[1:]); err != nil {
		err = &runner.UsageError{Err: err}
		fmt.Fprintln(os.Stderr, runner.ErrorLine(err))
		os.Exit(runner.ExitCode(err))
	}
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, runner.ErrorLine(err))
		os.Exit(runner.ExitCode(err))
	}
}
