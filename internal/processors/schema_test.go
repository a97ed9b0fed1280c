package processors

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

func TestSchemaTransform(t *testing.T) {
	t.Parallel()
	p := one(t, `
processors:
  - name: chat
    processor_type: schema_transform
    template:
      messages:
        - {role: user, content: "Who is {{ name }}?"}
        - {role: assistant, content: "{{ name | upper }} scored {{ score }}", "n": 2.0, "on": true}
      title: "  {{ name }} #{{ n }}  "
      meta: {ok: "{{ ok }}", quote: "say \"{{ n }}\"\n"}
      count: 3
      empty: null
`)
	in := testGroup(t)
	res, err := process(t, p, in)
	require.NoError(t, err)
	require.Same(t, in, res.Frame, "the main dataset passes through")
	require.Len(t, res.Side, 1)
	require.Equal(t, "processors-files/chat", res.Side[0].Dir)
	require.Equal(t, []column{ // sorted by key
		col("count", frame.String, "3", "3", "3"),
		col("empty", frame.String, nil, nil, nil),
		col("messages", frame.String,
			`[{"content":"Who is ann?","role":"user"},{"content":"ANN scored 0.5","n":2.0,"on":true,"role":"assistant"}]`,
			`[{"content":"Who is bob?","role":"user"},{"content":"BOB scored 2.0","n":2.0,"on":true,"role":"assistant"}]`,
			`[{"content":"Who is ?","role":"user"},{"content":" scored ","n":2.0,"on":true,"role":"assistant"}]`, // nulls render empty, as in expressions
		),
		col("meta", frame.String,
			`{"ok":"False","quote":"say \"1\""}`, // Jinja drops one trailing newline
			`{"ok":"True","quote":"say \"2\""}`,
			`{"ok":"","quote":"say \"\""}`,
		),
		col("title", frame.String, "  ann #1  ", "  bob #2  ", "   #  "), // strings as rendered, not trimmed
	}, columns(res.Side[0].Frame))
}

func TestSchemaTransformJSONColumn(t *testing.T) {
	t.Parallel()
	p := one(t, `
processors:
  - {name: pick, processor_type: schema_transform, template: {city: "{{ name.address.city }}", r: "{{ score | round(1) }}"}}
`)
	in := makeFrame(t, col("name", frame.String, `{"address": {"city": "Oslo"}}`), col("score", frame.Float, 0.25))
	res, err := process(t, p, in)
	require.NoError(t, err)
	require.Equal(t, []column{
		col("city", frame.String, "Oslo"),
		col("r", frame.String, "0.2"), // Python's round: ties to even
	}, columns(res.Side[0].Frame))
}

func TestSchemaTransformErrors(t *testing.T) {
	t.Parallel()
	p := one(t, `processors: [{name: chat, processor_type: schema_transform, template: {a: "{{ name }} {{ n }}"}}]`)

	_, err := process(t, p, makeFrame(t, col("name", frame.String, "x")))
	require.ErrorContains(t, err, `processor "chat" (post_batch, row group 7): the template reads column "n", which the row group does not have`)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Process(ctx, 0, testGroup(t))
	require.ErrorIs(t, err, context.Canceled)
}
