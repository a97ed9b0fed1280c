package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Group 0 takes tickets 0-39: a fails to cast its odd tickets and b its even ones, both at once
// (neither needs the other), so the workers drop every row of it — not a failed group, as a
// column failing on every row it is given would make it. Groups 1-3 are completed.
const settleConfig = `
seed_config:
  source: {seed_type: local, path: tickets.csv}
  sampling_strategy: ordered
columns:
  - {name: a, column_type: expression, dtype: int, expr: "{{ ticket if ticket >= 40 or ticket % 2 == 0 else 'x' }}"}
  - {name: b, column_type: expression, dtype: int, expr: "{{ ticket if ticket >= 40 or ticket % 2 == 1 else 'x' }}"}
`

// settleRun is a run of settleConfig: four groups of 40, one at a time, so that when a
// controller stops as a group settles no other group is prepared or in flight, and nothing may
// be generated twice.
func settleRun(t *testing.T) (*config.Config, lifecycle.Options) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("ticket\n")
	for i := range 160 {
		fmt.Fprintf(&b, "%d\n", i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tickets.csv"), []byte(b.String()), 0o644))
	var ds *seeddata.Dataset
	cfg, err := config.Parse([]byte(settleConfig), seeddata.Loader(dir, &ds))
	require.NoError(t, err)
	return cfg, lifecycle.Options{NumRecords: 160, BufferSize: 40, MaxConcurrentRowGroups: 1, Seed: 11,
		DatasetName: "settled", SeedBaseDir: dir, DisableEarlyShutdown: true}
}

// subjectCounter counts the messages on a subject filter, per subject, from a synchronous
// subscription on the controller's connection: a message published before a message the
// controller received on that connection is already pending when the controller returns.
type subjectCounter struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

func countSubjects(t *testing.T, nc *nats.Conn, filter string) *subjectCounter {
	t.Helper()
	sub, err := nc.SubscribeSync(filter)
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &subjectCounter{nc: nc, sub: sub}
}

// counts takes the messages pending now.
func (c *subjectCounter) counts(t *testing.T) map[string]int {
	t.Helper()
	require.NoError(t, c.nc.Flush()) // and whatever the server sent before answering the flush
	n, _, err := c.sub.Pending()
	require.NoError(t, err)
	out := map[string]int{}
	for range n {
		m, err := c.sub.NextMsg(time.Second) // pending: returns at once
		require.NoError(t, err)
		out[m.Subject]++
	}
	return out
}

// Every group end goes through one settle: ledger, ack, result, end, in that order. A
// controller killed between two of its steps leaves a run that a resume completes with the
// dataset of an uninterrupted run, generating no group twice — for a group the workers dropped
// whole and for a committed one. Killed after the ack, it proves the ledger came first: an
// outcome acked before the ledger write is lost, and the resume generates its group again.
func TestSettle(t *testing.T) {
	t.Parallel()
	b := setup(t, 2)
	layout := wire.DefaultLayout()
	cfg, opts := settleRun(t)

	want := sinks.NewMemory()
	t.Cleanup(want.Release)
	var mu sync.Mutex
	steps := map[int][]string{}
	ref := lifecycle.New(b.nc, b.js, layout, b.res, nil)
	ref.OnSettleStep(func(g int, step string) error {
		mu.Lock()
		defer mu.Unlock()
		steps[g] = append(steps[g], step)
		return nil
	})
	res, err := ref.Run(context.Background(), cfg, opts, want)
	require.NoError(t, err)
	require.Equal(t, 1, res.Dropped, "group 0 is dropped whole")
	require.Equal(t, 120, res.Rows)
	t.Run("StepsInOrder", func(t *testing.T) {
		for g := range 4 {
			require.Equal(t, []string{lifecycle.StepLedger, lifecycle.StepAck, lifecycle.StepResult, lifecycle.StepEnd},
				steps[g], "group %d", g)
		}
	})

	for _, tc := range []struct {
		name  string
		group int // killed as this group settles
		step  string
	}{
		{"DroppedGroupKilledAfterLedger", 0, lifecycle.StepLedger},
		{"DroppedGroupKilledAfterAck", 0, lifecycle.StepAck},
		{"CommittedGroupKilledAfterLedger", 2, lifecycle.StepLedger},
		{"CommittedGroupKilledAfterAck", 2, lifecycle.StepAck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := opts
			opts.RunID = lifecycle.NewRunID()
			published := countSubjects(t, b.nc, layout.GroupsOfRun(opts.RunID))
			generated := countSubjects(t, b.nc, layout.OutcomeSubject(opts.RunID, wire.KindGroup, "*"))
			sink := newCountingSink(t)

			killed := lifecycle.New(b.nc, b.js, layout, b.res, nil)
			killed.OnSettleStep(func(g int, step string) error {
				if g == tc.group && step == tc.step {
					return lifecycle.ErrStop
				}
				return nil
			})
			_, err := killed.Run(context.Background(), cfg, opts, sink)
			require.ErrorIs(t, err, lifecycle.ErrStop)
			require.Equal(t, wire.RunRunning, runState(t, b, opts.RunID))

			res, err := lifecycle.New(b.nc, b.js, layout, b.res, nil).Resume(context.Background(), opts.RunID, sink)
			require.NoError(t, err)
			require.Equal(t, wire.RunCompleted, res.Status)
			require.Equal(t, tc.group+1, res.Resumed, "the groups up to the killed one were in the ledger")
			require.Equal(t, 1, res.Dropped)
			require.Equal(t, 120, res.Rows)
			require.Len(t, res.Commits, 3)
			requireSameGroups(t, want, sink.Memory)

			p, o := published.counts(t), generated.counts(t)
			for g := range 4 {
				require.Equal(t, 1, p[layout.GroupSubject(opts.RunID, g)], "group %d prepared and published once", g)
				require.Equal(t, 1, o[layout.OutcomeSubject(opts.RunID, wire.KindGroup, fmt.Sprint(g))],
					"group %d generated once", g)
			}
			for g := 1; g < 4; g++ {
				require.Equal(t, 1, sink.count(g), "group %d written once", g)
			}
			require.Equal(t, 0, sink.count(0), "a dropped group is not written")
		})
	}
}
