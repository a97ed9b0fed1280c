package lifecycle

import (
	"errors"
	"fmt"

	"github.com/rowforge/rowforge/pkg/wire"
)

// DatasetGenerationError fails a run: a group failed, a sink could not commit, the broker
// refused a publish. Group is the row group concerned, or -1 when none is.
type DatasetGenerationError struct {
	RunID string
	Group int
	Err   error
}

func (e *DatasetGenerationError) Error() string {
	if e.Group >= 0 {
		return fmt.Sprintf("run %s, group %d: %v", e.RunID, e.Group, e.Err)
	}
	return fmt.Sprintf("run %s: %v", e.RunID, e.Err)
}

func (e *DatasetGenerationError) Unwrap() error { return e.Err }

// ErrAborted is matched (errors.Is) by the error of a run that was aborted: by its context (a
// signal), or by an operator's abort on the control subject.
var ErrAborted = errors.New("run aborted")

// AbortedError carries the reason of an abort.
type AbortedError struct {
	RunID  string
	Reason string
}

func (e *AbortedError) Error() string {
	return fmt.Sprintf("run %s aborted: %s", e.RunID, e.Reason)
}

func (e *AbortedError) Is(target error) bool { return target == ErrAborted }

// ResizeError is a processor that changed a group's row count where that is not allowed: at
// POST_BATCH, or at PRE_BATCH without allow_resize. The worker's tracker and the sink's counts
// rely on a group's size once it is fixed, so the run fails instead of truncating data.
type ResizeError struct {
	Processor, Stage string
	Group            int
	Before, After    int
}

func (e *ResizeError) Error() string {
	return fmt.Sprintf("processor %q (%s) changed the row count of group %d from %d to %d; only a pre_batch processor with allow_resize: true may",
		e.Processor, e.Stage, e.Group, e.Before, e.After)
}

// DeliveriesExhaustedError is a group that was delivered MaxDeliver times without an outcome:
// every worker that took it crashed, was cut off, or handed it back. It fails the run.
type DeliveriesExhaustedError struct {
	Group      int
	Deliveries uint64
}

func (e *DeliveriesExhaustedError) Error() string {
	return fmt.Sprintf("group %d was delivered %d times without an outcome: the workers that took it crashed, "+
		"were cut off or handed it back (see their logs); raise the consumer's MaxDeliver if groups legitimately need more tries",
		e.Group, e.Deliveries)
}

// SupersededError stops a controller whose run was resumed by another (`controller resume`
// bumps the run's epoch). It leaves the run alone: the run is the other controller's now.
type SupersededError struct {
	RunID       string
	Epoch, Mine int
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("run %s was resumed by another controller (epoch %d, this one is %d); this one stops and leaves the run to it",
		e.RunID, e.Epoch, e.Mine)
}

// NotResumableError is a resume of a run that has ended: only a running run (its controller
// gone) can be resumed.
type NotResumableError struct {
	RunID string
	State wire.RunState
}

func (e *NotResumableError) Error() string {
	return fmt.Sprintf("run %s is %s; only a running run whose controller has stopped can be resumed", e.RunID, e.State)
}

// ErrUnknownRun is a resume of a run the deployment has no record of.
var ErrUnknownRun = errors.New("no such run (controller status lists the runs)")

// errStop is a test's stand-in for kill -9 of the controller (see Controller.settleStep).
var errStop = errors.New("controller stopped on the spot")
