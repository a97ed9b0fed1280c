package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/scheduler"
)

// TestDecide covers every status the scheduler gives, whether the worker is stopping, and
// whether it reconnected while the group ran: only a stop's abort and a failure across a
// reconnect are handed back; everything else is published.
func TestDecide(t *testing.T) {
	t.Parallel()
	cause := errors.New("model unreachable")
	tests := []struct {
		status                scheduler.Status
		stopping, reconnected bool
		want                  verb
	}{
		{scheduler.Completed, false, false, publishAndAck},
		{scheduler.Completed, false, true, publishAndAck},
		{scheduler.Completed, true, false, publishAndAck},
		{scheduler.Completed, true, true, publishAndAck},
		{scheduler.Dropped, false, false, publishAndAck},
		{scheduler.Dropped, false, true, publishAndAck},
		{scheduler.Dropped, true, false, publishAndAck},
		{scheduler.Dropped, true, true, publishAndAck},
		{scheduler.Failed, false, false, publishAndAck},
		{scheduler.Failed, false, true, handBack}, // may have failed because it was cut off
		{scheduler.Failed, true, false, publishAndAck},
		{scheduler.Failed, true, true, handBack},
		{scheduler.Aborted, false, false, publishAndAck}, // the run's abort: the controller counts it
		{scheduler.Aborted, false, true, publishAndAck},
		{scheduler.Aborted, true, false, handBack}, // this worker's stop: another takes the group
		{scheduler.Aborted, true, true, handBack},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/stopping=%t/reconnected=%t", tt.status, tt.stopping, tt.reconnected), func(t *testing.T) {
			t.Parallel()
			out := scheduler.Outcome{Status: tt.status, Rows: 3, Err: cause}
			a := decide(out, tt.stopping, tt.reconnected)
			require.Equal(t, tt.want, a.verb)
			switch a.verb {
			case publishAndAck:
				require.NotNil(t, a.out)
				require.Equal(t, out.Status, a.out.Status)
				require.Equal(t, out.Rows, a.out.Rows)
				require.Equal(t, string(tt.status), a.status())
			case handBack:
				require.Equal(t, jsx.FetchWait, a.delay, "past this worker's last fetches")
				require.Equal(t, metrics.StatusHandedBack, a.status())
				require.NotEmpty(t, a.why)
			}
			require.Empty(t, a.fault, "a decision on an outcome is no error of this worker")
		})
	}
}

// TestActionStatus is what the metrics count for each way of settling.
func TestActionStatus(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", terminateFor("bad subject").status(), "a terminated message was no group")
	require.Equal(t, metrics.StatusHandedBack, handBackAfter(0, 0, "", nil).status())
	out := scheduler.Outcome{Status: scheduler.Dropped}
	require.Equal(t, metrics.StatusDropped, action{verb: publishAndAck, out: &out}.status())
}
