package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The status tables are what an operator reads: one row per run, newest as given, and one per
// live worker with its groups in flight by run, runs in name order.
func TestWriteStatus(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.Local)
	runs := []*wire.RunRecord{{ID: "r1", State: wire.RunAborting, Mode: wire.ModeBuild, NumRecords: 40,
		Reason: "enough", CreatedAt: at, Progress: wire.RunProgress{Groups: 4, GroupsDone: 1, Rows: 10}}}
	workers := []*wire.WorkerRecord{{ID: "w1", InFlight: map[string][]int{"r3": {0}, "r1": {2, 3}, "r2": {7}}, Updated: at}}
	var out strings.Builder
	require.NoError(t, cli.WriteStatus(&out, runs, workers))
	require.Equal(t, strings.Join([]string{
		"RUN  STATE     MODE   GROUPS  ROWS   STARTED              REASON",
		"r1   aborting  build  1/4     10/40  2026-12-07 01:02:03  enough",
		"",
		"WORKER  LAST HEARTBEAT  IN FLIGHT",
		"w1      01:02:03        r1:[2 3] r2:[7] r3:[0]",
		"",
	}, "\n"), out.String())
}

// A run's closing lines: the summary a script greps, then a line per model by alias.
func TestWriteResumeSummary(t *testing.T) {
	t.Parallel()
	res := &lifecycle.Result{RunID: "r1", Status: wire.RunCompleted, Rows: 30, Dropped: 1, Resumed: 2,
		Commits: make([]wire.Commit, 3),
		Usage: map[string]wire.ModelUsage{
			"writer": {Requests: 5, Failed: 1, PromptTokens: 50, CompletionTokens: 20},
			"judge":  {Requests: 3, PromptTokens: 9, CompletionTokens: 3},
		}}
	var out strings.Builder
	cli.WriteResumeSummary(&out, res, "artifacts/x", 1500*time.Millisecond)
	require.Equal(t, "run r1 completed: 30 records in 3 groups (1 groups dropped; 2 groups had ended before the resume) in 1.5s; dataset artifacts/x\n"+
		"  model judge: 3 requests (0 failed and retried or dropped), 9 prompt + 3 completion tokens\n"+
		"  model writer: 5 requests (1 failed and retried or dropped), 50 prompt + 20 completion tokens\n", out.String())
}
