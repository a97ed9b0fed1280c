package config

import (
	"slices"
	"strings"
	"testing"
)

// The helpers took over messages that users and tests match; these pin them to the letter.
func TestFieldHelpersKeepMessages(t *testing.T) {
	p := &problems{}
	f := newFields(p, "c", "params.", "key", map[string]any{
		"retries": int64(-1), "parallel": int64(0), "ok": int64(3), "ratio": 2.5,
		"timeout": int64(0), "backoff": 1.0, "s": int64(1), "b": "x",
		"list": []any{}, "nums": []any{int64(1), "x"}, "expr": " ", "tpl": "{{ a }",
		"entries": []any{map[string]any{}, "x"}, "m": "x",
	})
	if _, ok := f.intAtLeast("retries", 0); ok {
		t.Error("intAtLeast accepted -1 for a minimum of 0")
	}
	f.intAtLeast("parallel", 1)
	if n, ok := f.intAtLeast("ok", 1); !ok || n != 3 {
		t.Errorf("intAtLeast(ok) = %d, %v; want 3, true", n, ok)
	}
	if _, ok := f.intAtLeast("absent", 1); ok {
		t.Error("intAtLeast reported an absent key as set")
	}
	f.intAtLeast("ratio", 1)
	f.floatAbove("timeout", 0)
	f.floatAbove("backoff", 1)
	f.str("s", true)
	f.bool("b")
	f.str("missing", true)
	stringList(f, "list", f.m["list"])
	numberList(f, "nums", f.m["nums"])
	f.template("expr", true)
	f.template("tpl", false)
	for range f.mappings("entries", f.m["entries"].([]any), "want an entry mapping") {
	}
	f.mapping("m", false, "a mapping of fields")
	f.mapping("absent mapping", true, "a mapping")
	names := uniqueNames{}
	names.named(f, "name", "a", 0, "score name", "scores")
	names.named(f, "name", "a", 2, "score name", "scores")
	names.named(f, "name", " ", 3, "score name", "scores")
	names.required(p, "c", "scores[4].name", "", 4, "score name", "scores")

	var got []string
	for _, err := range p.errs {
		e := err.(*Error)
		got = append(got, e.Field+": "+e.Msg)
	}
	want := []string{
		"params.retries: must be at least 0, got -1",
		"params.parallel: must be at least 1, got 0",
		"params.ratio: want an integer, got float 2.5",
		"params.timeout: must be greater than 0, got 0",
		"params.backoff: must be greater than 1, got 1",
		"params.s: want a string, got int 1",
		"params.b: want true or false, got string \"x\"",
		"params.missing: required",
		"params.list: must not be empty",
		"params.nums[1]: want a number, got string \"x\"",
		"params.expr: must not be blank",
		"params.entries[1]: want an entry mapping, got string \"x\"",
		"params.m: want a mapping of fields, got string \"x\"",
		"params.absent mapping: required",
		"params.name: duplicate score name \"a\": scores[0] and scores[2] both use it",
		"params.name: must not be empty",
		"scores[4].name: required",
	}
	// The template error's text is the Jinja parser's: only its prefix is ours.
	i := slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "params.tpl: invalid Jinja template: ") })
	if i < 0 {
		t.Errorf("no invalid-template problem for tpl in %q", got)
	} else {
		got = slices.Delete(got, i, i+1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}
