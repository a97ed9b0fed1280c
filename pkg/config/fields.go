package config

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"sort"
	"strings"

	"github.com/rowforge/rowforge/internal/pyfmt"
)

// problems collects every problem of a config, so that one load reports all of them instead of
// making the user fix them one at a time.
type problems struct {
	errs []error
	// order holds the key order of the config's conditional_params mappings, by path
	// (keyOrders): the one part of a config whose meaning depends on order.
	order map[string][]string
	// seedUnknown is set when the seed dataset's columns could not be learned: a reference to
	// an unknown column may then be one of them, and is not reported on top of the seed's
	// own problem.
	seedUnknown bool
}

func (p *problems) add(column, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{Column: column, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// fields reads one mapping of the config (a column or its params) with strict checks: it
// reports problems against the column and the key path, and remembers which keys it read so
// that leftovers, usually typos, are reported rather than silently ignored.
type fields struct {
	p      *problems
	column string // the culprit column for errors ("" when the column has no usable name)
	prefix string // key path of the mapping, ending in "." (or "")
	kind   string // "key" or "param", for messages
	m      map[string]any
	used   map[string]bool
}

func newFields(p *problems, column, prefix, kind string, m map[string]any) *fields {
	return &fields{p: p, column: column, prefix: prefix, kind: kind, m: m, used: map[string]bool{}}
}

func (f *fields) errorf(key, format string, args ...any) {
	f.p.add(f.column, f.prefix+key, format, args...)
}

// get returns the value of key and whether it is set. A null counts as unset: optional fields
// then take their default, required ones report "required". Data Designer dumps defaults as
// nulls (`prefix: null`), and its own exports must load.
func (f *fields) get(key string) (any, bool) {
	f.used[key] = true
	v, ok := f.m[key]
	return v, ok && v != nil
}

// has reports whether key is set to a non-null value, without reading it.
func (f *fields) has(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

// required is get for a field that must be present.
func (f *fields) required(key string) (any, bool) {
	v, ok := f.get(key)
	if !ok {
		f.errorf(key, "required")
	}
	return v, ok
}

func (f *fields) str(key string, req bool) (string, bool) {
	return read(f, key, req, "a string", as[string])
}

func (f *fields) bool(key string) (bool, bool) {
	return read(f, key, false, "true or false", as[bool])
}

func (f *fields) float(key string, req bool) (float64, bool) {
	return read(f, key, req, "a number", number)
}

func (f *fields) int(key string, req bool) (int, bool) {
	return read(f, key, req, "an integer", integer)
}

// mapping reads a field that holds a mapping; want says what it maps ("a mapping of …"), as
// a nested mapping's messages name what belongs in it.
func (f *fields) mapping(key string, req bool, want string) (map[string]any, bool) {
	return read(f, key, req, want, as[map[string]any])
}

// listOfType decodes a non-empty list whose every item conv accepts: "want a list of
// <items>" for another value, empty for an empty list, "want <item>" under key[i] for each
// item conv rejects. Any rejected item makes the whole list nil, so that later checks do not
// work on a partial list.
func listOfType[T any](f *fields, key string, v any, items, empty, item string, conv func(any) (T, bool)) []T {
	list, ok := v.([]any)
	if !ok {
		f.errorf(key, "want a list of %s, got %s", items, describe(v))
		return nil
	}
	if len(list) == 0 {
		f.errorf(key, "%s", empty)
		return nil
	}
	out := make([]T, len(list))
	valid := true
	for i, e := range list {
		x, ok := conv(e)
		if !ok {
			f.errorf(fmt.Sprintf("%s[%d]", key, i), "want %s, got %s", item, describe(e))
			valid = false
		}
		out[i] = x
	}
	if !valid {
		return nil
	}
	return out
}

// template reads a Jinja template and the columns it references (nil when it is invalid). A
// required one must not be blank either: a blank prompt or expression asks for nothing.
func (f *fields) template(key string, req bool) (string, []string) {
	src, ok := f.str(key, req)
	if !ok {
		return "", nil
	}
	if req && strings.TrimSpace(src) == "" {
		f.errorf(key, "must not be blank")
		return src, nil
	}
	refs, err := TemplateRefs(src)
	if err != nil {
		f.errorf(key, "invalid Jinja template: %v", err)
		return src, nil
	}
	return src, refs
}

// as is a type assertion as a function, for read.
func as[T any](v any) (T, bool) {
	x, ok := v.(T)
	return x, ok
}

// read is the one way a scalar field is read, so that every type reports a missing or
// mistyped value in the same words: "required", or "want <want>, got <what it is>".
func read[T any](f *fields, key string, req bool, want string, conv func(any) (T, bool)) (T, bool) {
	var zero T
	v, ok := f.get(key)
	if !ok {
		if req {
			f.errorf(key, "required")
		}
		return zero, false
	}
	x, ok := conv(v)
	if !ok {
		f.errorf(key, "want %s, got %s", want, describe(v))
		return zero, false
	}
	return x, true
}

// intAtLeast reads an optional integer bounded below, as most of Data Designer's counts
// are. It reports a value under least and then returns false, so that the caller keeps its
// default and checks that run later on the decoded value do not report it a second time.
func (f *fields) intAtLeast(key string, least int) (int, bool) {
	n, ok := f.int(key, false)
	if ok && n < least {
		f.errorf(key, "must be at least %d, got %d", least, n)
		return 0, false
	}
	return n, ok
}

// floatAbove is intAtLeast for a number that must exceed above (a timeout, a backoff factor).
// The value is quoted with %v, as these messages always have been, not with pyfmt.
func (f *fields) floatAbove(key string, above float64) (float64, bool) {
	x, ok := f.float(key, false)
	if ok && !(x > above) {
		f.errorf(key, "must be greater than %v, got %v", above, x)
		return 0, false
	}
	return x, ok
}

// uniqueNames remembers at which index of a list each name was first used, so that a
// repeat can name both entries: the user then sees which two to tell apart.
type uniqueNames map[string]int

// repeated records name as entry i of list, or, when an earlier entry has it, leaves the
// first use recorded and returns the message naming both (what is the kind of name, such as
// "provider name"); "" when name is new.
func (u uniqueNames) repeated(name string, i int, what, list string) string {
	j, dup := u[name]
	if !dup {
		u[name] = i
		return ""
	}
	return fmt.Sprintf("duplicate %s %q: %s[%d] and %s[%d] both use it", what, name, list, j, list, i)
}

// required is repeated for a name set in code (Validate's checks): a blank name is reported
// under field as required, and required returns false for it.
func (u uniqueNames) required(p *problems, column, field, name string, i int, what, list string) bool {
	if strings.TrimSpace(name) == "" {
		p.add(column, field, "required")
		return false
	}
	if msg := u.repeated(name, i, what, list); msg != "" {
		p.add(column, field, "%s", msg)
	}
	return true
}

// named is repeated for a name a parser read from key: a blank name is reported instead of
// recorded, and named returns false for it, so that the caller can treat the entry as unnamed.
func (u uniqueNames) named(f *fields, key, name string, i int, what, list string) bool {
	if strings.TrimSpace(name) == "" {
		f.errorf(key, "must not be empty")
		return false
	}
	if msg := u.repeated(name, i, what, list); msg != "" {
		f.errorf(key, "%s", msg)
	}
	return true
}

// listOf reads a top-level section that holds a list. An empty section is no list and no
// problem (Data Designer dumps unset sections as null or []); any other value that is not a
// list is reported under key as "<want>, got <its type>".
func listOf(v any, key, want string, p *problems) ([]any, bool) {
	if isEmpty(v) {
		return nil, false
	}
	list, ok := v.([]any)
	if !ok {
		p.add("", key, "%s, got %s", want, describe(v))
	}
	return list, ok
}

// mappingsOf yields each entry of a top-level list that is a mapping, with its index; an
// entry that is not one is reported under key[i] as "<want>, got <its type>" and skipped,
// so that a parser sees only entries it can read.
func mappingsOf(list []any, key, want string, p *problems) iter.Seq2[int, map[string]any] {
	return func(yield func(int, map[string]any) bool) {
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				p.add("", fmt.Sprintf("%s[%d]", key, i), "%s, got %s", want, describe(e))
				continue
			}
			if !yield(i, m) {
				return
			}
		}
	}
}

// sectionMappings is listOf and mappingsOf together, for a section whose parser needs
// nothing but its mapping entries.
func sectionMappings(v any, key, wantList, wantEntry string, p *problems) iter.Seq2[int, map[string]any] {
	list, _ := listOf(v, key, wantList, p)
	return mappingsOf(list, key, wantEntry, p)
}

// mappings yields each entry of the list under key as its own fields, at key[i], so that
// a nested entry reports its problems against its own path. An entry that is not a
// mapping is reported as "<want>, got <its type>" and skipped.
func (f *fields) mappings(key string, list []any, want string) iter.Seq2[int, *fields] {
	return func(yield func(int, *fields) bool) {
		for i, e := range list {
			at := fmt.Sprintf("%s[%d]", key, i)
			m, isMap := e.(map[string]any)
			if !isMap {
				f.errorf(at, "%s, got %s", want, describe(e))
				continue
			}
			if !yield(i, newFields(f.p, f.column, f.prefix+at+".", "key", m)) {
				return
			}
		}
	}
}

// unknown reports every key that was not read, suggesting the closest known one.
func (f *fields) unknown() {
	var known []string
	for k := range f.used {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, k := range sortedKeys(f.m) {
		if f.used[k] {
			continue
		}
		msg := fmt.Sprintf("unknown %s %q", f.kind, k)
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += " (want " + strings.Join(known, ", ") + ")"
		}
		f.p.add(f.column, f.prefix+k, "%s", msg)
	}
}

// number accepts YAML integers and floats as a float, as pydantic does for float fields.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// integer accepts YAML integers and integral floats (pydantic accepts 5.0 for an int field),
// within the range where a float64 holds integers exactly.
func integer(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		if x > math.MaxInt || x < math.MinInt {
			return 0, false
		}
		return int(x), true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int(x), true
	}
	return 0, false
}

// describe names the JSON type of v for messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("bool %v", x)
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("int %d", x)
	case float64:
		return "float " + pyfmt.Float(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// namesOf lists the name of each entry of a section, in order: what a reference to one is
// looked up in, and what a misspelt one is matched against.
func namesOf[T any](list []T, name func(T) string) []string {
	var out []string
	for _, e := range list {
		out = append(out, name(e))
	}
	return out
}

// unknownName says that name is none of known (a what defined under section): it suggests
// the closest, else lists them, or says the config has none.
func unknownName(what, name string, known []string, section string) string {
	msg := fmt.Sprintf("unknown %s %q", what, name)
	switch s := closest(name, known); {
	case s != "":
		return msg + fmt.Sprintf(": did you mean %q?", s)
	case len(known) == 0:
		return msg + ": the config has no " + section
	}
	return msg + " (" + section + " has " + strings.Join(known, ", ") + ")"
}

// closest returns the candidate most similar to s if it is similar enough to be a likely
// typo, else "". Comparison ignores case, and transpositions count as one edit.
func closest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	n := len([]rune(ls))
	limit := 1 + n/5
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if c == s || abs(len([]rune(c))-n) > limit {
			continue
		}
		d := editDistance(ls, strings.ToLower(c))
		if d < bestDist && d < n {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
