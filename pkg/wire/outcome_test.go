package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOutcomeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, o := range []Outcome{
		{Run: "r1", Group: 2, Status: OutcomeCompleted, Worker: "w1",
			Stats: &GroupStats{Rows: 3, Columns: map[string]ColumnStats{"q": {Generated: 3}},
				Models: map[string]ModelUsage{"m": {Requests: 3}}}},
		{Run: "r1", Group: 0, Status: OutcomeDropped, Worker: "w1", Stats: &GroupStats{Dropped: 5}},
		{Run: "r1", Group: 9, Status: OutcomeFailed, Worker: "w2", Err: `column "q": boom`},
		{Run: "r1", Group: 1, Status: OutcomeAborted, Worker: "w2", Err: "run aborted: wrong config: yes",
			AbortReason: "wrong config: yes"},
	} {
		t.Run(string(o.Status), func(t *testing.T) {
			t.Parallel()
			h, err := o.Header()
			require.NoError(t, err)
			got, err := DecodeOutcome(h)
			require.NoError(t, err)
			require.Equal(t, &o, got)
		})
	}
}

func TestMalformedOutcomes(t *testing.T) {
	t.Parallel()
	_, err := (&Outcome{Status: "done"}).Header()
	require.Error(t, err, "an unknown status is not sent")
	for name, h := range map[string]map[string][]string{
		"no status":               {HeaderGroup: {"1"}},
		"unknown status":          {HeaderStatus: {"done"}, HeaderStats: {"{}"}},
		"completed without stats": {HeaderStatus: {"completed"}},
		"dropped, bad stats":      {HeaderStatus: {"dropped"}, HeaderStats: {"{"}},
		"negative group":          {HeaderStatus: {"failed"}, HeaderGroup: {"-2"}},
		"group not a number":      {HeaderStatus: {"failed"}, HeaderGroup: {"two"}},
	} {
		_, err := DecodeOutcome(h)
		require.ErrorIs(t, err, ErrMalformedOutcome, name)
	}
}
