package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const processorColumns = `
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: dept, column_type: sampler, sampler_type: category, params: {values: [eng, sales]}}
  - {name: tmp_a, column_type: sampler, sampler_type: uuid, drop: true}
  - {name: tmp_b, column_type: expression, expr: "{{ dept }}", drop: true}
  - {name: note, column_type: expression, expr: "{{ dept }} {{ tmp_a }}"}
`

func TestParseProcessors(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(processorColumns + `
processors:
  - name: cleanup
    processor_type: drop_columns
    column_names: ["tmp_*"]
    preserve_dropped_columns: false
  - name: chat
    processor_type: schema_transform
    template:
      messages:
        - {role: user, content: "{{ dept }}"}
        - {role: assistant, content: "{{ note | upper }}", weight: 1}
      id: "{{ id }}"
  - name: shout
    processor_type: exec
    stage: pre_batch
    allow_resize: true
    command: [python3, shout.py, ""]
    timeout: 2.5
  - name: remote
    processor_type: nats
    subject: svc.rows.process
  - name: run
    processor_type: exec
    command: [./run]
`))
	require.NoError(t, err)
	require.Len(t, cfg.Processors, 5, "no implicit processor: cleanup drops both drop: true columns")

	require.Equal(t, &Processor{
		Name: "cleanup", Type: ProcessorDropColumns, Stage: StagePostBatch,
		ColumnNames: []string{"tmp_*"}, PreserveDroppedColumns: false,
	}, cfg.Processors[0])

	chat := cfg.Processors[1]
	require.Equal(t, ProcessorSchemaTransform, chat.Type)
	require.Equal(t, StagePostBatch, chat.Stage)
	require.Equal(t, map[string]any{
		"messages": []any{
			map[string]any{"role": "user", "content": "{{ dept }}"},
			map[string]any{"role": "assistant", "content": "{{ note | upper }}", "weight": int64(1)},
		},
		"id": "{{ id }}",
	}, chat.Template)

	require.Equal(t, &Processor{
		Name: "shout", Type: ProcessorExec, Stage: StagePreBatch, AllowResize: true,
		Command: []string{"python3", "shout.py", ""}, Timeout: 2500 * time.Millisecond,
	}, cfg.Processors[2])
	require.Equal(t, &Processor{
		Name: "remote", Type: ProcessorNATS, Stage: StagePostBatch,
		Subject: "svc.rows.process", Timeout: DefaultNATSTimeout,
	}, cfg.Processors[3])
	require.Equal(t, DefaultExecTimeout, cfg.Processors[4].Timeout)

	// drop: true keeps its meaning; processors are part of Raw and of the hash.
	require.Equal(t, []string{"tmp_a", "tmp_b"}, cfg.DroppedColumns())
	require.Len(t, cfg.Raw["processors"], 5)
	other, err := Parse([]byte(processorColumns + `
processors:
  - {name: cleanup, processor_type: drop_columns, column_names: ["tmp_*"]}
`))
	require.NoError(t, err)
	require.NotEqual(t, cfg.Hash(), other.Hash())
	require.True(t, other.Processors[0].PreserveDroppedColumns, "default true")
}

func TestImplicitDropColumns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		processors string
		want       []string // the implicit processor's columns; nil: none added
	}{
		{"no processors", "", []string{"tmp_a", "tmp_b"}},
		{"empty list", "processors: []", []string{"tmp_a", "tmp_b"}},
		{"explicit by name", "processors: [{name: d, processor_type: drop_columns, column_names: [tmp_b]}]", []string{"tmp_a"}},
		{"explicit by glob", "processors: [{name: d, processor_type: drop_columns, column_names: ['tmp_?']}]", nil},
		{"explicit at pre_batch", "processors: [{name: d, processor_type: drop_columns, stage: pre_batch, column_names: [id]}]", []string{"tmp_a", "tmp_b"}},
		{"other processor", "processors: [{name: x, processor_type: exec, command: [x]}]", []string{"tmp_a", "tmp_b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(processorColumns + tt.processors))
			require.NoError(t, err)
			last := cfg.Processors[len(cfg.Processors)-1]
			if tt.want == nil {
				require.False(t, last.Implicit)
				return
			}
			require.Equal(t, &Processor{
				Name: DefaultDropColumns, Type: ProcessorDropColumns, Stage: StagePostBatch, Implicit: true,
				ColumnNames: tt.want, PreserveDroppedColumns: true,
			}, last)
			require.NotContains(t, cfg.JSON(), DefaultDropColumns, "the implicit processor is not part of Raw")
		})
	}

	cfg, err := Parse([]byte("columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}"))
	require.NoError(t, err)
	require.Empty(t, cfg.Processors, "nothing dropped, no processor")
}

func TestParseProcessorErrors(t *testing.T) {
	t.Parallel()
	proc := func(s string) string { return processorColumns + "processors:\n  - " + s }
	tests := []struct {
		name, yaml, field, msg string
	}{
		// The list and the common keys.
		{"not a list", processorColumns + "processors: {name: x}", "processors", "want a list of processors"},
		{"entry not a mapping", processorColumns + "processors: [x]", "processors[0]", "want a processor mapping"},
		{"missing name", proc("{processor_type: exec, command: [x]}"), "processors[0].name", "required"},
		{"blank name", proc(`{name: " ", processor_type: exec, command: [x]}`), "processors[0].name", "must not be empty"},
		{"name with slash", proc(`{name: a/b, processor_type: exec, command: [x]}`), "processors[0].name", `holds '/'`},
		{"name dot dot", proc(`{name: "..", processor_type: exec, command: [x]}`), "processors[0].name", "not a valid folder name"},
		{"name spaces", proc(`{name: " a", processor_type: exec, command: [x]}`), "processors[0].name", "leading or trailing spaces"},
		{"name control", proc(`{name: "a\tb", processor_type: exec, command: [x]}`), "processors[0].name", `holds '\t'`},
		{"name too long", proc(`{name: ` + strings.Repeat("n", 256) + `, processor_type: exec, command: [x]}`), "processors[0].name", "at most 255 bytes"},
		{"duplicate name", processorColumns + "processors:\n  - {name: p, processor_type: exec, command: [x]}\n  - {name: p, processor_type: nats, subject: s}", "processors[p].name", `duplicate processor name "p": processors[0] and processors[1] both use it`},
		{"missing type", proc("{name: p}"), "processors[p].processor_type", "required"},
		{"unknown type", proc("{name: p, processor_type: drop_column}"), "processors[p].processor_type", `unknown processor_type "drop_column" (did you mean "drop_columns"?)`},
		{"unknown type far", proc("{name: p, processor_type: zzz}"), "processors[p].processor_type", "want one of drop_columns, schema_transform, exec, nats"},
		{"unknown stage", proc("{name: p, processor_type: exec, command: [x], stage: PRE_BATCH}"), "processors[p].stage", `unknown stage "PRE_BATCH" (did you mean "pre_batch"?)`},
		{"allow_resize post_batch", proc("{name: p, processor_type: exec, command: [x], allow_resize: true}"), "processors[p].allow_resize", "only a pre_batch processor may resize"},
		{"allow_resize not a bool", proc("{name: p, processor_type: exec, command: [x], allow_resize: 1}"), "processors[p].allow_resize", "want true or false"},
		{"unknown key", proc("{name: p, processor_type: exec, command: [x], timout: 3}"), "processors[p].timout", `unknown key "timout" (did you mean "timeout"?)`},
		{"key of another type", proc("{name: p, processor_type: exec, command: [x], subject: s}"), "processors[p].subject", `unknown key "subject"`},

		// drop_columns.
		{"drop missing column_names", proc("{name: p, processor_type: drop_columns}"), "processors[p].column_names", "required"},
		{"drop column_names empty", proc("{name: p, processor_type: drop_columns, column_names: []}"), "processors[p].column_names", "must not be empty"},
		{"drop column_names not a list", proc("{name: p, processor_type: drop_columns, column_names: id}"), "processors[p].column_names", "want a list of strings"},
		{"drop column name not a string", proc("{name: p, processor_type: drop_columns, column_names: [id, 3]}"), "processors[p].column_names[1]", "want a string, got int 3"},
		{"drop empty pattern", proc(`{name: p, processor_type: drop_columns, column_names: [""]}`), "processors[p].column_names[0]", "must not be empty"},
		{"drop unknown column", proc("{name: p, processor_type: drop_columns, column_names: [id, nots]}"), "processors[p].column_names[1]", `"nots" matches no column (did you mean "note"?)`},
		{"drop glob matches nothing", proc("{name: p, processor_type: drop_columns, column_names: ['x*']}"), "processors[p].column_names[0]", `"x*" matches no column`},
		{"drop bad pattern", proc("{name: p, processor_type: drop_columns, column_names: ['tmp_[']}"), "processors[p].column_names[0]", `invalid pattern "tmp_["`},
		{"drop pre_batch generated column", proc("{name: p, processor_type: drop_columns, stage: pre_batch, column_names: [note]}"), "processors[p].column_names[0]", `"note" matches no sampler column (at pre_batch only the sampler columns exist)`},
		{"drop pre_batch read column", proc("{name: p, processor_type: drop_columns, stage: pre_batch, column_names: ['*']}"), "processors[p].column_names[0]", `a pre_batch processor cannot drop "dept": column "tmp_b" reads it`},
		{"drop preserve not a bool", proc("{name: p, processor_type: drop_columns, column_names: [id], preserve_dropped_columns: no}"), "processors[p].preserve_dropped_columns", "want true or false"},
		{"reserved name", proc("{name: default_drop_columns, processor_type: drop_columns, column_names: [id]}"), "processors[default_drop_columns].name", `the name "default_drop_columns" is reserved for the processor that drops the columns marked drop: true (tmp_a, tmp_b)`},

		// schema_transform.
		{"template missing", proc("{name: p, processor_type: schema_transform}"), "processors[p].template", "required"},
		{"template not a mapping", proc(`{name: p, processor_type: schema_transform, template: "{{ id }}"}`), "processors[p].template", "want a mapping"},
		{"template empty", proc("{name: p, processor_type: schema_transform, template: {}}"), "processors[p].template", "must not be empty"},
		{"template invalid jinja", proc(`{name: p, processor_type: schema_transform, template: {a: [x, {b: "{{ id "}]}}`), "processors[p].template.a[1].b", "invalid Jinja template"},
		{"template include", proc(`{name: p, processor_type: schema_transform, template: {a: "{% include 'x' %}"}}`), "processors[p].template.a", "{% include %} is not supported"},
		{"template unknown reference", proc(`{name: p, processor_type: schema_transform, template: {a: {b: "{{ dep }}"}}}`), "processors[p].template.a.b", `unknown reference "dep": did you mean "dept"?`},
		{"template unknown reference far", proc(`{name: p, processor_type: schema_transform, template: {a: "{{ zzz }}"}}`), "processors[p].template.a", `unknown reference "zzz": want a column`},
		{"template pre_batch generated", proc(`{name: p, processor_type: schema_transform, stage: pre_batch, template: {a: "{{ note }}"}}`), "processors[p].template.a", `unknown reference "note": want a sampler column (at pre_batch only the sampler columns exist)`},
		{"template non-finite", proc(`{name: p, processor_type: schema_transform, template: {a: .nan}}`), "processors[p].template.a", "NaN has no JSON form"},

		// exec.
		{"exec command missing", proc("{name: p, processor_type: exec}"), "processors[p].command", "required"},
		{"exec command a string", proc(`{name: p, processor_type: exec, command: "sh -c x"}`), "processors[p].command", "want a list, the program then its arguments"},
		{"exec command empty", proc("{name: p, processor_type: exec, command: []}"), "processors[p].command", "must not be empty"},
		{"exec command not strings", proc("{name: p, processor_type: exec, command: [x, 1]}"), "processors[p].command[1]", "want a string"},
		{"exec program blank", proc(`{name: p, processor_type: exec, command: [" ", a]}`), "processors[p].command[0]", "must not be blank"},
		{"exec timeout zero", proc("{name: p, processor_type: exec, command: [x], timeout: 0}"), "processors[p].timeout", "must be a positive number of seconds"},
		{"exec timeout negative", proc("{name: p, processor_type: exec, command: [x], timeout: -1}"), "processors[p].timeout", "must be a positive number of seconds"},
		{"exec timeout huge", proc("{name: p, processor_type: exec, command: [x], timeout: 1e12}"), "processors[p].timeout", "too long"},
		{"exec timeout tiny", proc("{name: p, processor_type: exec, command: [x], timeout: 1e-12}"), "processors[p].timeout", "too short"},
		{"exec timeout string", proc(`{name: p, processor_type: exec, command: [x], timeout: "5"}`), "processors[p].timeout", "want a number"},

		// nats.
		{"nats subject missing", proc("{name: p, processor_type: nats}"), "processors[p].subject", "required"},
		{"nats subject empty", proc(`{name: p, processor_type: nats, subject: ""}`), "processors[p].subject", "must not be empty"},
		{"nats subject wildcard", proc("{name: p, processor_type: nats, subject: svc.*}"), "processors[p].subject", `wildcard "*"`},
		{"nats subject full wildcard", proc("{name: p, processor_type: nats, subject: 'svc.>'}"), "processors[p].subject", `wildcard ">"`},
		{"nats subject empty token", proc("{name: p, processor_type: nats, subject: svc..x}"), "processors[p].subject", "empty token"},
		{"nats subject space", proc(`{name: p, processor_type: nats, subject: "svc x"}`), "processors[p].subject", "holds ' '"},
		{"nats timeout", proc("{name: p, processor_type: nats, subject: s, timeout: 0}"), "processors[p].timeout", "positive number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tt.yaml))
			require.Error(t, err)
			require.Nil(t, cfg)
			for _, e := range errorsOf(err) {
				if e.Column == "" && e.Field == tt.field && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			require.Failf(t, "no matching error", "want field %q msg containing %q, got:\n%v", tt.field, tt.msg, err)
		})
	}
}

func TestParseProcessorErrorsOnce(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(processorColumns + `
processors:
  - {name: p, processor_type: schema_transform, template: {a: "{{ id ", b: "{{ nope }}"}}
  - {name: q, processor_type: exec, command: [x], stage: later, allow_resize: true}
`))
	var msgs []string
	for _, e := range errorsOf(err) {
		msgs = append(msgs, e.Error())
	}
	// A processor with a problem of its own is not checked against the columns as well (b's
	// unknown reference waits for a's fix), and allow_resize is not judged against a stage
	// that does not parse.
	require.ElementsMatch(t, []string{
		`processors[p].template.a: invalid Jinja template: '}}' expected here (Line: 1 Col: 7, near "")`,
		`processors[q].stage: unknown stage "later" (want one of pre_batch, post_batch)`,
	}, msgs)
}

func TestMatchColumn(t *testing.T) {
	t.Parallel()
	require.True(t, MatchColumn("a", "a"))
	require.True(t, MatchColumn("a*", "abc"))
	require.True(t, MatchColumn("a?c", "abc"))
	require.True(t, MatchColumn("[ab]x", "bx"))
	require.True(t, MatchColumn("x[1", "x[1"), "a malformed pattern still names itself")
	require.True(t, MatchColumn("n[0]", "n0"))
	require.False(t, MatchColumn("a*", "x/a"))
	require.False(t, MatchColumn("a*", "a/b"), "path.Match: * does not cross /")
	require.False(t, MatchColumn("x[1", "x1"))
}

func TestValidateProcessors(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(processorColumns))
	require.NoError(t, err)
	require.Len(t, cfg.Processors, 1)

	// Validate recomputes the implicit processor: one, at the end, however often it runs.
	cfg.Processors = append([]*Processor{{
		Name: "x", Type: ProcessorExec, Stage: StagePreBatch, AllowResize: true,
		Command: []string{"prog"}, Timeout: time.Second,
	}}, cfg.Processors...)
	require.NoError(t, cfg.Validate())
	require.NoError(t, cfg.Validate())
	require.Len(t, cfg.Processors, 2)
	require.Equal(t, "x", cfg.Processors[0].Name)
	require.True(t, cfg.Processors[1].Implicit)

	cfg.Processors = append(cfg.Processors, &Processor{
		Name: "d", Type: ProcessorDropColumns, Stage: StagePostBatch, ColumnNames: []string{"tmp_*"},
	})
	require.NoError(t, cfg.Validate())
	require.Len(t, cfg.Processors, 2, "d drops both: no implicit processor")
	require.Equal(t, "d", cfg.Processors[1].Name)

	bad := []struct {
		proc       *Processor
		field, msg string
	}{
		{&Processor{Name: "a/b", Type: ProcessorExec, Stage: StagePostBatch, Command: []string{"p"}, Timeout: time.Second}, "processors[2].name", "holds '/'"},
		{&Processor{Name: "s", Type: ProcessorExec, Stage: "", Command: []string{"p"}, Timeout: time.Second}, "processors[s].stage", `unknown stage ""`},
		{&Processor{Name: "s", Type: ProcessorExec, Stage: StagePostBatch, AllowResize: true, Command: []string{"p"}, Timeout: time.Second}, "processors[s].allow_resize", "only a pre_batch"},
		{&Processor{Name: "s", Type: ProcessorExec, Stage: StagePostBatch, Timeout: time.Second}, "processors[s].command", "want the program"},
		{&Processor{Name: "s", Type: ProcessorExec, Stage: StagePostBatch, Command: []string{"p"}}, "processors[s].timeout", "positive"},
		{&Processor{Name: "s", Type: ProcessorNATS, Stage: StagePostBatch, Subject: "a.>", Timeout: time.Second}, "processors[s].subject", "wildcard"},
		{&Processor{Name: "s", Type: ProcessorDropColumns, Stage: StagePostBatch}, "processors[s].column_names", "required"},
		{&Processor{Name: "s", Type: ProcessorDropColumns, Stage: StagePostBatch, ColumnNames: []string{"zz"}}, "processors[s].column_names[0]", "matches no column"},
		{&Processor{Name: "s", Type: ProcessorSchemaTransform, Stage: StagePostBatch}, "processors[s].template", "required"},
		{&Processor{Name: "s", Type: ProcessorSchemaTransform, Stage: StagePostBatch, Template: map[string]any{"a": "{{ zz }}"}}, "processors[s].template.a", "unknown reference"},
		{&Processor{Name: "s", Type: "nope", Stage: StagePostBatch}, "processors[s].processor_type", "unknown processor_type"},
		{&Processor{Name: "d", Type: ProcessorExec, Stage: StagePostBatch, Command: []string{"p"}, Timeout: time.Second}, "processors[d].name", "duplicate processor name"},
	}
	for _, tt := range bad {
		before := cfg.Processors
		c := *cfg
		c.Processors = append(append([]*Processor(nil), before...), tt.proc)
		err := c.Validate()
		require.Error(t, err, tt.field)
		found := false
		for _, e := range errorsOf(err) {
			found = found || (e.Field == tt.field && strings.Contains(e.Msg, tt.msg))
		}
		require.True(t, found, "want %s: %s, got %v", tt.field, tt.msg, err)
		require.Len(t, c.Processors, 3, "a failed Validate leaves Processors as they were")
	}

	cfg.Processors = append(cfg.Processors, nil)
	require.ErrorContains(t, cfg.Validate(), "processors[2]: nil processor")
}
