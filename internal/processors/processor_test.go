package processors

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

func TestFromConfig(t *testing.T) {
	t.Parallel()
	procs := build(t, `
processors:
  - {name: pre, processor_type: exec, stage: pre_batch, allow_resize: true, command: [cat]}
  - {name: chat, processor_type: schema_transform, template: {a: "{{ name }}"}}
  - {name: cleanup, processor_type: drop_columns, column_names: [tmp_a]}
  - {name: flag, processor_type: drop_columns, column_names: [tmp_b], stage: post_batch}
`)
	type info struct {
		Name   string
		Stage  Stage
		Resize bool
	}
	var got []info
	for _, p := range procs {
		got = append(got, info{p.Name(), p.Stage(), p.AllowResize()})
	}
	require.Equal(t, []info{
		{"pre", PreBatch, true},
		{"chat", PostBatch, false},
		{"cleanup", PostBatch, false},
		{"flag", PostBatch, false},
	}, got)

	// drop: true adds default_drop_columns at the end.
	cfg, err := config.Parse([]byte(testColumns + "  - {name: gone, column_type: sampler, sampler_type: uuid, drop: true}\n"))
	require.NoError(t, err)
	procs, err = FromConfig(cfg, nil)
	require.NoError(t, err)
	require.Len(t, procs, 1)
	require.Equal(t, config.DefaultDropColumns, procs[0].Name())
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *config.Processor
		msg  string
	}{
		{"nil", nil, "nil processor"},
		{"stage", &config.Processor{Name: "x", Type: config.ProcessorExec, Stage: "later", Command: []string{"a"}}, `unknown stage "later"`},
		{"type", &config.Processor{Name: "x", Type: "nope", Stage: config.StagePostBatch}, `unknown processor_type "nope"`},
		{"drop without columns", &config.Processor{Name: "x", Type: config.ProcessorDropColumns, Stage: config.StagePostBatch}, "needs column_names"},
		{"schema without template", &config.Processor{Name: "x", Type: config.ProcessorSchemaTransform, Stage: config.StagePostBatch}, "needs a template"},
		{"schema bad template", &config.Processor{Name: "x", Type: config.ProcessorSchemaTransform, Stage: config.StagePostBatch, Template: map[string]any{"a": []any{"{{ x "}}}, "template.a[0]: invalid Jinja template"},
		{"exec without command", &config.Processor{Name: "x", Type: config.ProcessorExec, Stage: config.StagePostBatch}, "needs a command"},
		{"exec without timeout", &config.Processor{Name: "x", Type: config.ProcessorExec, Stage: config.StagePostBatch, Command: []string{"a"}}, "positive timeout"},
		{"nats without connection", &config.Processor{Name: "x", Type: config.ProcessorNATS, Stage: config.StagePostBatch, Subject: "s", Timeout: 1}, "needs a NATS connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tt.p, nil, nil)
			require.Nil(t, p)
			require.ErrorContains(t, err, tt.msg)
		})
	}

	cfg, err := config.Parse([]byte(testColumns + "processors: [{name: remote, processor_type: nats, subject: svc}]"))
	require.NoError(t, err)
	_, err = FromConfig(cfg, nil)
	require.ErrorContains(t, err, `processor "remote": a nats processor needs a NATS connection`)
}

// funcProcessor is a Processor made of a function, for Run's tests.
type funcProcessor struct {
	base
	fn func() (Result, error)
}

func (p funcProcessor) Process(context.Context, int, *frame.Frame) (Result, error) { return p.fn() }

func TestRun(t *testing.T) {
	t.Parallel()
	in := testGroup(t)
	run := func(fn func() (Result, error)) (Result, error) {
		return Run(context.Background(), funcProcessor{base{name: "f", stage: PreBatch}, fn}, 3, in)
	}

	_, err := run(func() (Result, error) { panic("boom") })
	perr, ok := errors.AsType[*Error](err)
	require.True(t, ok)
	require.Equal(t, "f", perr.Processor)
	require.Equal(t, PreBatch, perr.Stage)
	require.Equal(t, 3, perr.Group)
	require.ErrorContains(t, err, `processor "f" (pre_batch, row group 3): panic: boom`)
	require.Contains(t, err.Error(), "processor_test.go", "the stack is kept")

	cause := errors.New("plain")
	_, err = run(func() (Result, error) { return Result{}, cause })
	require.ErrorIs(t, err, cause)
	require.Equal(t, `processor "f" (pre_batch, row group 3): plain`, err.Error())

	typed := &Error{Processor: "other", Stage: PostBatch, Group: 1, Err: cause}
	_, err = run(func() (Result, error) { return Result{}, typed })
	require.Same(t, typed, err, "an *Error is not wrapped again")

	_, err = run(func() (Result, error) { return Result{}, nil })
	require.ErrorContains(t, err, "returned no frame")

	_, err = run(func() (Result, error) { return Result{Frame: in, Side: []SideOutput{{Dir: "x"}}}, nil })
	require.ErrorContains(t, err, "side output without a frame")

	res, err := run(func() (Result, error) { return Result{Frame: in}, nil })
	require.NoError(t, err)
	require.Same(t, in, res.Frame)
}

func TestFilesDir(t *testing.T) {
	t.Parallel()
	require.Equal(t, "processors-files/chat", FilesDir("chat"))
}
