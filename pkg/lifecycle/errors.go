package lifecycle

import (
	"errors"
	"fmt"
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
