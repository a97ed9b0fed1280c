package cli

import (
	"errors"

	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/config"
)

// Exit codes of rowforge's commands.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the run failed, or the deployment could not be reached
	ExitInvalid = 2 // invalid config or usage
	ExitAborted = 3
)

// UsageError marks a command-line mistake.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode maps an error to the command's exit code.
func ExitCode(err error) int {
	var cfgErr *config.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &cfgErr), isUsage(err):
		return ExitInvalid
	case errors.Is(err, lifecycle.ErrAborted):
		return ExitAborted
	default:
		return ExitFailed
	}
}

// ErrorLine renders err as the one line a command prints on stderr: its kind, then the message.
func ErrorLine(err error) string {
	var cfgErr *config.Error
	var gen *lifecycle.DatasetGenerationError
	kind := "error"
	switch {
	case errors.As(err, &cfgErr):
		kind = "config error"
	case isUsage(err):
		kind = "usage error"
	case errors.Is(err, lifecycle.ErrAborted):
		kind = "aborted"
	case errors.As(err, &gen):
		kind = "generation error"
	}
	return kind + ": " + oneLine(err.Error())
}

// isUsage reports whether err is the operator's to fix by changing the command: a mistake in
// its flags or arguments, including the deployment flags and a run id the deployment does not
// know (or cannot act on).
func isUsage(err error) bool {
	var usage *UsageError
	var flag *deploy.FlagError
	var runID *deploy.RunIDError
	return errors.As(err, &usage) || errors.As(err, &flag) || errors.As(err, &runID)
}

// oneLine keeps a multi-line message (errors.Join's) on the one line a log scraper reads.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}
