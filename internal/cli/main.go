package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs a rowforge command and exits with its code: the command's context ends on SIGINT
// or SIGTERM, flag and argument mistakes are usage errors (exit 2), and an error is printed as
// one line on stderr, starting with its kind.
func Main(cmd *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	err := func() error {
		if cmd.HasSubCommands() {
			if _, _, err := cmd.Find(os.Args[1:]); err != nil {
				return &UsageError{Err: err}
			}
		}
		return cmd.ExecuteContext(ctx)
	}()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, ErrorLine(err))
		os.Exit(ExitCode(err))
	}
}

// NoArgs rejects positional arguments as a usage error.
func NoArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &UsageError{Err: fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}

// Args makes a cobra argument check's error a usage error.
func Args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}
