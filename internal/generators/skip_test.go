package generators

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/jinja"
)

// TestSkipWhenTruth: what a skip.when renders is read as Python reads it, as Data Designer's
// native Jinja environment does (checked against jinja2 3.1.6 there).
func TestSkipWhenTruth(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"True": true, "False": false, "None": false, "": false, "0": false, "0.0": false, "-0": false,
		"1": true, "2.5": true, "1e3": true, "nan": true, "none": true, "abc": true, "''": false, "'x'": true,
		"[]": false, "[1]": true, "{}": false, "()": false, "False ": false, " False": true, "FalseFalse": true,
	} {
		require.Equal(t, want, truthy(text), "%q", text)
	}
	for _, tc := range []struct {
		when string
		row  map[string]any
		want bool
	}{
		{"{{ x == 0 }}", map[string]any{"x": int64(0)}, true},
		{"{{ x == 0 }}", map[string]any{"x": int64(3)}, false},
		{"{{ x }}", map[string]any{"x": "False"}, false},
		{"{{ x }}", map[string]any{"x": ""}, false},
		{"{{ x.ok }}", map[string]any{"x": `{"ok": false}`}, false}, // JSON text is decoded
		{"{{ x.missing.deeper }}", map[string]any{"x": "{}"}, true},
		{"{{ x.zzz == 1 }}", map[string]any{"x": `{"a": 1}`}, true}, // a missing attribute is an error: skip
		{"{{ x.a == 1 }}", map[string]any{"x": `{"a": 1}`}, true},
		{"{{ x.a == 2 }}", map[string]any{"x": `{"a": 1}`}, false},
	} {
		tpl, err := jinja.CompileStrict(tc.when)
		require.NoError(t, err)
		require.Equal(t, tc.want, skipWhen(tpl, []string{"x"})(tc.row), "%s with %v", tc.when, tc.row)
	}
}
