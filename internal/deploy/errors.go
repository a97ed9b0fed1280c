package deploy

import "errors"

// ErrNoDeployment is returned when the server holds no rowforge buckets yet.
var ErrNoDeployment = errors.New("no rowforge deployment on this server (no run has been started)")

// FlagError is a client flag (or the environment variable standing in for it) that is
// missing, malformed or contradicts another: the operator has to change the command, so the
// command-line layer reports it as a usage mistake rather than a failed run.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// RunIDError is a run id that names no run the operation can act on: malformed, unknown to
// the deployment, or (for a resume) already ended. Like a FlagError it is the operator's to
// fix, not a failure of the deployment.
type RunIDError struct {
	Run string
	Err error
}

func (e *RunIDError) Error() string { return e.Err.Error() }
func (e *RunIDError) Unwrap() error { return e.Err }
