package lifecycle_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/frame"
)

const stageColumns = `
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: label, column_type: expression, expr: "n={{ n }}"}
`

// runStages runs cfgText over 3 groups of 10 rows into a memory sink.
func runStages(t *testing.T, b *bundle, cfgText string) (*lifecycle.Result, *sinks.Memory, error) {
	t.Helper()
	sink := sinks.NewMemory()
	t.Cleanup(sink.Release)
	res, err := b.ctrl.Run(context.Background(), parse(t, cfgText), lifecycle.Options{
		NumRecords: 30, BufferSize: 10, Seed: 5}, sink)
	return res, sink, err
}

// requireFailed checks the run failed with a DatasetGenerationError that wraps want, wrote no
// metadata and had the sink discard.
func requireFailed[T error](t *testing.T, err error, sink *sinks.Memory) T {
	t.Helper()
	var ge *lifecycle.DatasetGenerationError
	require.ErrorAs(t, err, &ge)
	var want T
	require.ErrorAs(t, err, &want)
	require.Nil(t, sink.Meta(), "a failed run never writes metadata")
	require.True(t, sink.Discarded())
	return want
}

// PRE_BATCH runs on each group as it is admitted, POST_BATCH on each as it is committed; a
// processor that resizes a group without saying so, or fails, fails the run.
func TestStages(t *testing.T) {
	t.Parallel()

	t.Run("PreBatchResizeFailsFast", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		_, sink, err := runStages(t, b, stageColumns+`
processors:
  - {name: halve, processor_type: exec, stage: pre_batch, command: [sh, -c, "head -n 5"]}
`)
		re := requireFailed[*lifecycle.ResizeError](t, err, sink)
		require.Equal(t, "halve", re.Processor)
		require.Equal(t, "pre_batch", re.Stage)
		require.Equal(t, 10, re.Before)
		require.Equal(t, 5, re.After)
		require.Empty(t, sink.Groups(), "nothing of the group reached the sink")
	})

	t.Run("PostBatchResizeFailsFast", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		_, sink, err := runStages(t, b, stageColumns+`
processors:
  - {name: trim, processor_type: exec, stage: post_batch, command: [sh, -c, "head -n 9"]}
`)
		re := requireFailed[*lifecycle.ResizeError](t, err, sink)
		require.Equal(t, "post_batch", re.Stage)
		require.Equal(t, 9, re.After)
		require.Empty(t, sink.Groups())
	})

	// allow_resize at PRE_BATCH is safe: the controller fixes the size before publishing, the worker
	// builds its tracker from it, and the metadata counts what was written.
	t.Run("PreBatchAllowResize", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		res, sink, err := runStages(t, b, stageColumns+`
processors:
  - {name: halve, processor_type: exec, stage: pre_batch, allow_resize: true, command: [sh, -c, "head -n 4"]}
`)
		require.NoError(t, err)
		require.Equal(t, 12, res.Rows)
		for _, rec := range sink.Groups() {
			require.EqualValues(t, 4, rec.NumRows())
		}
		require.Equal(t, 12, sink.Meta().ActualNumRecords)
		require.Equal(t, 30, sink.Meta().TargetNumRecords)
		require.Equal(t, 3, sink.Meta().TotalNumBatches)
	})

	t.Run("ProcessorFailuresFailTheRun", func(t *testing.T) {
		t.Parallel()
		for name, proc := range map[string]string{
			"exec exit":        `{name: p, processor_type: exec, command: [sh, -c, "echo bad input >&2; exit 3"]}`,
			"exec timeout":     `{name: p, processor_type: exec, timeout: 1, command: [sh, -c, "sleep 30"]}`,
			"exec garbage":     `{name: p, processor_type: exec, command: [sh, -c, "echo not json"]}`,
			"pre_batch exit":   `{name: p, processor_type: exec, stage: pre_batch, command: [sh, -c, "exit 1"]}`,
			"nats no service":  `{name: p, processor_type: nats, subject: nobody.listens, timeout: 1}`,
			"nats error reply": `{name: p, processor_type: nats, subject: svc.fails}`,
			"nats timeout":     `{name: p, processor_type: nats, subject: svc.silent, timeout: 1}`,
			"schema_transform": `{name: p, processor_type: schema_transform, template: {x: "{{ n | nosuchfilter }}"}}`,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, 1)
				sub, err := b.nc.Subscribe("svc.fails", func(m *nats.Msg) {
					reply := nats.NewMsg(m.Reply)
					reply.Header.Set(processors.HeaderError, "model quota exhausted")
					_ = m.RespondMsg(reply)
				})
				require.NoError(t, err)
				t.Cleanup(func() { _ = sub.Unsubscribe() })
				silent, err := b.nc.Subscribe("svc.silent", func(*nats.Msg) {}) // receives, never replies
				require.NoError(t, err)
				t.Cleanup(func() { _ = silent.Unsubscribe() })
				_, sink, err := runStages(t, b, stageColumns+"processors:\n  - "+proc+"\n")
				pe := requireFailed[*processors.Error](t, err, sink)
				require.Equal(t, "p", pe.Processor)
			})
		}
	})

	// The exec and nats processors run a user's program and a user's service on every group; their
	// output is the dataset.
	t.Run("ExecAndNATSProcessorsTransformGroups", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		// A real NATS service: appends a column "svc" = "ok" to each row.
		sub, err := b.nc.Subscribe("svc.tag", func(m *nats.Msg) {
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(m.Data))
			for sc.Scan() {
				line := bytes.TrimSuffix(sc.Bytes(), []byte("}"))
				fmt.Fprintf(&out, "%s,\"svc\":\"ok\"}\n", line)
			}
			_ = m.Respond(out.Bytes())
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })

		res, sink, err := runStages(t, b, stageColumns+`
processors:
  - {name: identity, processor_type: exec, command: [cat]}
  - {name: tag, processor_type: nats, subject: svc.tag}
  - {name: tidy, processor_type: drop_columns, column_names: ["lab*"]}
`)
		require.NoError(t, err)
		require.Equal(t, 30, res.Rows)
		for g, rec := range sink.Groups() {
			f, err := frame.FromRecord(rec)
			require.NoError(t, err)
			require.Nil(t, f.Column("label"), "group %d", g)
			require.Equal(t, "ok", f.Column("svc").Strings[0])
			sides := sink.Sides(g)
			require.Len(t, sides, 1)
			require.Equal(t, processors.DroppedColumnsDir, sides[0].Dir)
			require.Equal(t, rec.NumRows(), sides[0].Rec.NumRows())
		}
		require.Len(t, sink.Meta().FilePaths[processors.DroppedColumnsDir], 3)
	})
}
