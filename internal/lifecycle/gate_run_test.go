package lifecycle_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// About 70% of rows fail to cast: enough to trip the gate, never a whole 50-row group.
const flakyConfig = `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: v, column_type: expression, dtype: int, expr: "{{ n if n > 70 else 'x' }}"}
`

// The early-shutdown gate, in a run: by default it fails the run; with AllowPartial it keeps
// what was committed.
func TestEarlyShutdown(t *testing.T) {
	t.Parallel()

	t.Run("FailsTheRunByDefault", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		res, err := b.ctrl.Run(context.Background(), parse(t, flakyConfig), lifecycle.Options{
			NumRecords: 200, BufferSize: 50, Seed: 3}, sink)
		var es *lifecycle.EarlyShutdownError
		require.ErrorAs(t, err, &es)
		var ge *lifecycle.DatasetGenerationError
		require.ErrorAs(t, err, &ge, "exits 1")
		require.Equal(t, wire.RunFailed, res.Status)
		require.Nil(t, sink.Meta())

		sink2 := sinks.NewMemory()
		t.Cleanup(sink2.Release)
		res, err = b.ctrl.Run(context.Background(), parse(t, flakyConfig), lifecycle.Options{
			NumRecords: 200, BufferSize: 50, Seed: 3, DisableEarlyShutdown: true}, sink2)
		require.NoError(t, err)
		require.Less(t, res.Rows, 100, "the failed rows were dropped")
		require.Equal(t, res.Rows, sink2.Meta().ActualNumRecords)
	})

	// With AllowPartial the gate keeps what was committed and marks the metadata partial. A real
	// NATS service spoils most rows from group 2 on, so groups 0 and 1 commit and group 2 trips.
	t.Run("AllowPartialKeepsCommittedGroups", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		sub, err := b.nc.Subscribe("svc.spoil", func(m *nats.Msg) {
			g, _ := strconv.Atoi(m.Header.Get(processors.HeaderGroup))
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(m.Data))
			for i := 0; sc.Scan(); i++ {
				row := map[string]any{}
				_ = json.Unmarshal(sc.Bytes(), &row)
				if g >= 2 && i%5 != 0 {
					row["n"] = -1.0
				}
				line, _ := json.Marshal(row)
				out.Write(append(line, '\n'))
			}
			_ = m.Respond(out.Bytes())
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })

		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		res, err := b.ctrl.Run(context.Background(), parse(t, `
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: v, column_type: expression, dtype: int, expr: "{{ n if n >= 0 else 'bad' }}"}
processors:
  - {name: spoil, processor_type: nats, stage: pre_batch, subject: svc.spoil}
`), lifecycle.Options{NumRecords: 500, BufferSize: 50, Seed: 3, MaxConcurrentRowGroups: 1, AllowPartial: true}, sink)
		require.NoError(t, err)
		require.Equal(t, wire.RunPartial, res.Status)
		require.Equal(t, 100, res.Rows)
		require.Len(t, sink.Groups(), 2)
		meta := sink.Meta()
		require.NotNil(t, meta)
		require.Equal(t, wire.RunPartial, meta.Outcome)
		require.Equal(t, 100, meta.ActualNumRecords)
		require.Equal(t, 500, meta.TargetNumRecords)
	})
}
