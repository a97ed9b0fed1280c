package config

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Processor types (`processor_type`). drop_columns and schema_transform are Data Designer's;
// exec and nats are rowforge's ways to run a user's own code on a row group.
const (
	ProcessorDropColumns     = "drop_columns"
	ProcessorSchemaTransform = "schema_transform"
	ProcessorExec            = "exec"
	ProcessorNATS            = "nats"
)

// Processor stages (`stage`).
const (
	// StagePreBatch runs on a row group once its sampler (seed) columns exist, before any
	// other column is generated.
	StagePreBatch = "pre_batch"
	// StagePostBatch runs on a completed row group before it is written. The default.
	StagePostBatch = "post_batch"
)

// DefaultDropColumns names the drop_columns processor that Parse adds for the columns marked
// `drop: true` that no explicit drop_columns processor drops (Data Designer's
// default_drop_columns_processor). A config may not use the name itself when it is needed.
const DefaultDropColumns = "default_drop_columns"

// Default timeouts of the processors that call out to user code.
const (
	DefaultExecTimeout = 60 * time.Second
	DefaultNATSTimeout = 30 * time.Second
)

var processorTypes = []string{ProcessorDropColumns, ProcessorSchemaTransform, ProcessorExec, ProcessorNATS}

var stages = []string{StagePreBatch, StagePostBatch}

// Processor is one entry of `processors`: a transformation of each row group at one stage.
// Processors run in config order. Only the fields of its Type are set.
type Processor struct {
	// Name is unique among the processors and is a valid folder name: side datasets are
	// written under processors-files/<name>/.
	Name  string
	Type  string // one of the ProcessorXxx constants
	Stage string // StagePreBatch or StagePostBatch
	// AllowResize lets a pre_batch processor change the number of rows of a group.
	AllowResize bool
	// Implicit is true for the DefaultDropColumns processor that Parse (and Validate) add for
	// `drop: true` columns; it does not appear in Raw.
	Implicit bool

	// drop_columns. ColumnNames are the patterns as written: column names or path.Match globs
	// (`*`, `?`, `[...]`); each matches at least one column of the config.
	ColumnNames            []string
	PreserveDroppedColumns bool // write the dropped values to dropped-columns-parquet-files/

	// schema_transform. Template is a JSON tree (map[string]any, []any, string, int64,
	// float64, bool, nil) whose string leaves are Jinja templates. It is shared with Raw:
	// read it, do not modify it.
	Template map[string]any

	// exec: the program and its arguments, run without a shell.
	Command []string

	// nats: the subject a request goes to (no wildcards).
	Subject string

	// exec and nats: how long one call on one row group may take.
	Timeout time.Duration
}

// parseProcessors decodes `processors`. Processors decoded with problems are returned too,
// marked in broken, so that their names still count.
func parseProcessors(v any, broken map[*Processor]bool, p *problems) []*Processor {
	list, ok := listOf(v, "processors", "want a list of processors", p)
	if !ok {
		return nil
	}
	var procs []*Processor
	for i, e := range list {
		before := len(p.errs)
		if proc := parseProcessor(p, i, e); proc != nil {
			procs = append(procs, proc)
			if len(p.errs) != before {
				broken[proc] = true
			}
		}
	}
	return procs
}

// processorField is the key path under which problems of a processor are reported: its name
// when it has a usable one, else its position.
func processorField(name string, i int) string {
	if name != "" && checkProcessorName(name) == nil {
		return "processors[" + name + "]"
	}
	return fmt.Sprintf("processors[%d]", i)
}

// parseProcessor decodes the i-th entry of `processors`. It returns nil when the entry is not
// a mapping or has no known processor_type; such entries have their problems reported.
func parseProcessor(p *problems, i int, v any) *Processor {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("", fmt.Sprintf("processors[%d]", i), "want a processor mapping, got %s", describe(v))
		return nil
	}
	name, _ := m["name"].(string)
	f := newFields(p, "", processorField(name, i)+".", "key", m)
	proc := &Processor{Stage: StagePostBatch}
	if n, ok := f.str("name", true); ok {
		proc.Name = n
		if err := checkProcessorName(n); err != nil {
			f.errorf("name", "%v", err)
		}
	}
	stageOK := true
	if st, ok := f.str("stage", false); ok {
		if slices.Contains(stages, st) {
			proc.Stage = st
		} else {
			f.errorf("stage", "%s", unknownMsg("stage", st, stages))
			stageOK = false
		}
	}
	proc.AllowResize, _ = f.bool("allow_resize")

	pt, ok := f.str("processor_type", true)
	if !ok {
		return nil // without a type the allowed keys are unknown
	}
	proc.Type = pt
	switch pt {
	case ProcessorDropColumns:
		proc.PreserveDroppedColumns = true
		if v, ok := f.required("column_names"); ok {
			proc.ColumnNames = stringList(f, "column_names", v)
			for j, pat := range proc.ColumnNames {
				if pat == "" {
					f.errorf(fmt.Sprintf("column_names[%d]", j), "must not be empty")
				}
			}
		}
		if b, ok := f.bool("preserve_dropped_columns"); ok {
			proc.PreserveDroppedColumns = b
		}
	case ProcessorSchemaTransform:
		if v, ok := f.required("template"); ok {
			tpl, isMap := v.(map[string]any)
			switch {
			case !isMap:
				f.errorf("template", "want a mapping, got %s", describe(v))
			case len(tpl) == 0:
				f.errorf("template", "must not be empty: each top-level key becomes a column of the side dataset")
			default:
				proc.Template = tpl
				walkTemplate(tpl, "", func(at, src string) {
					if _, err := TemplateRefs(src); err != nil {
						f.errorf(joinPath("template", at), "invalid Jinja template: %v", err)
					}
				})
			}
		}
	case ProcessorExec:
		if v, ok := f.required("command"); ok {
			if _, isStr := v.(string); isStr {
				f.errorf("command", "want a list, the program then its arguments (no shell runs it; write [sh, -c, \"...\"] for one), got %s", describe(v))
			} else if cmd := stringList(f, "command", v); cmd != nil {
				proc.Command = cmd
				if strings.TrimSpace(cmd[0]) == "" {
					f.errorf("command[0]", "the program must not be blank")
				}
			}
		}
		proc.Timeout = timeout(f, DefaultExecTimeout)
	case ProcessorNATS:
		if s, ok := f.str("subject", true); ok {
			proc.Subject = s
			if err := checkSubject(s); err != nil {
				f.errorf("subject", "%v", err)
			}
		}
		proc.Timeout = timeout(f, DefaultNATSTimeout)
	default:
		f.errorf("processor_type", "%s", unknownMsg("processor_type", pt, processorTypes))
		return nil
	}
	if proc.AllowResize && stageOK && proc.Stage != StagePreBatch {
		f.errorf("allow_resize", "only a pre_batch processor may resize a row group (this one runs at %s)", proc.Stage)
	}
	f.unknown()
	return proc
}

func unknownMsg(key, got string, want []string) string {
	if s := closest(got, want); s != "" {
		return fmt.Sprintf("unknown %s %q (did you mean %q?)", key, got, s)
	}
	return fmt.Sprintf("unknown %s %q (want one of %s)", key, got, strings.Join(want, ", "))
}

// stringList decodes a non-empty list of strings.
func stringList(f *fields, key string, v any) []string {
	return listOfType(f, key, v, "strings", "must not be empty", "a string", as[string])
}

// maxTimeout bounds timeouts to what a time.Duration holds, with room to spare.
const maxTimeout = 100 * 365 * 24 * time.Hour

// timeout decodes `timeout`, a positive number of seconds.
func timeout(f *fields, def time.Duration) time.Duration {
	secs, ok := f.float("timeout", false)
	if !ok {
		return def
	}
	if err := checkTimeout(secs); err != nil {
		f.errorf("timeout", "%v", err)
		return def
	}
	return time.Duration(secs * float64(time.Second))
}

func checkTimeout(secs float64) error {
	switch {
	case !(secs > 0):
		return fmt.Errorf("must be a positive number of seconds, got %v", secs)
	case secs > maxTimeout.Seconds() || math.IsInf(secs, 0):
		return fmt.Errorf("%v seconds is too long", secs)
	case time.Duration(secs*float64(time.Second)) <= 0:
		return fmt.Errorf("%v seconds is too short", secs)
	}
	return nil
}

// checkProcessorName checks that a name can be a folder name on any platform: not blank, not
// "." or "..", without path separators or control characters, without surrounding spaces, at
// most 255 bytes.
func checkProcessorName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("must not be empty")
	case name != strings.TrimSpace(name):
		return fmt.Errorf("%q has leading or trailing spaces; the name is a folder name", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid folder name", name)
	case len(name) > 255:
		return fmt.Errorf("must be at most 255 bytes: the name is a folder name")
	}
	for _, r := range name {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("%q holds %q: the name is a folder name (no '/', '\\' or control characters)", name, r)
		}
	}
	return nil
}

// MatchColumn reports whether a column_names entry of a drop_columns processor selects the
// named column: the entry is the column's name, or a path.Match pattern that matches it
// (`*` and `?` do not match '/'). A malformed pattern matches only the name it spells.
func MatchColumn(pattern, name string) bool {
	if pattern == name {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// checkSubject checks a NATS subject to publish requests to: dot-separated non-empty tokens,
// without wildcards, spaces or control characters.
func checkSubject(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return fmt.Errorf("%q is not a valid NATS subject: empty token", s)
		}
		if tok == "*" || tok == ">" {
			return fmt.Errorf("%q is not a valid NATS subject to send to: wildcard %q", s, tok)
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) {
				return fmt.Errorf("%q is not a valid NATS subject: it holds %q", s, r)
			}
		}
	}
	return nil
}

// walkTemplate calls leaf for every string leaf of a schema_transform template, with its key
// path (`messages[0].content`), in a stable order.
func walkTemplate(v any, at string, leaf func(at, src string)) {
	switch x := v.(type) {
	case string:
		leaf(at, x)
	case []any:
		for i, e := range x {
			walkTemplate(e, fmt.Sprintf("%s[%d]", at, i), leaf)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			walkTemplate(x[k], joinPath(at, k), leaf)
		}
	}
}

// matchColumns returns the names among names that pat selects, in their order.
func matchColumns(pat string, names []string) []string {
	var out []string
	for _, n := range names {
		if MatchColumn(pat, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkProcessors makes the checks that need the columns or all processors: unique names,
// column patterns and template references that name columns that exist at the processor's
// stage, and what a pre_batch processor may drop. It returns procs without any implicit
// processor, followed by DefaultDropColumns if `drop: true` columns need it. Processors in
// broken have problems reported already and are only checked for their names.
func checkProcessors(c *Config, procs []*Processor, broken map[*Processor]bool, p *problems) []*Processor {
	sc := newProcessorScope(c)
	procs = slices.DeleteFunc(slices.Clone(procs), func(proc *Processor) bool { return proc != nil && proc.Implicit })
	names := uniqueNames{}
	explicit := map[string]bool{} // columns an explicit drop_columns processor drops
	for i, proc := range procs {
		if proc == nil {
			p.add("", fmt.Sprintf("processors[%d]", i), "nil processor")
			continue
		}
		at := processorField(proc.Name, i)
		if proc.Name != "" {
			if msg := names.repeated(proc.Name, i, "processor name", "processors"); msg != "" {
				p.add("", at+".name", "%s", msg)
			}
		}
		if broken[proc] {
			continue
		}
		switch proc.Type {
		case ProcessorDropColumns:
			sc.checkDropPatterns(proc, at, explicit, p)
		case ProcessorSchemaTransform:
			sc.checkTemplateRefs(proc, at, p)
		}
	}
	return addImplicitDrop(c, procs, explicit, names, p)
}

// processorScope is what the columns of a config offer processors: which exist at each stage
// and which generated columns read each, since a pre_batch processor runs before those
// readers and must leave their inputs.
type processorScope struct {
	all, seeds []string
	readers    map[string][]string // column → the generated columns that read it
}

func newProcessorScope(c *Config) *processorScope {
	sc := &processorScope{readers: map[string][]string{}}
	for _, col := range c.Columns {
		if col == nil || col.Name == "" {
			continue
		}
		sc.all = append(sc.all, col.Name)
		if col.Type == TypeSampler {
			sc.seeds = append(sc.seeds, col.Name)
		} else {
			for _, in := range col.Inputs {
				sc.readers[in] = append(sc.readers[in], col.Name)
			}
		}
	}
	return sc
}

// columns returns the columns that exist at proc's stage, and how messages name them: at
// pre_batch only the sampler columns exist.
func (sc *processorScope) columns(proc *Processor) (cols []string, where string) {
	if proc.Stage == StagePreBatch {
		return sc.seeds, "sampler column (at pre_batch only the sampler columns exist)"
	}
	return sc.all, "column"
}

// checkDropPatterns checks that each pattern of a drop_columns processor matches a column at
// its stage and, at pre_batch, drops no column a later column reads. It marks what the
// processor drops in explicit, so that those columns need no implicit drop.
func (sc *processorScope) checkDropPatterns(proc *Processor, at string, explicit map[string]bool, p *problems) {
	cols, where := sc.columns(proc)
	for j, pat := range proc.ColumnNames {
		if pat == "" {
			continue // reported by the parser
		}
		matched := matchColumns(pat, cols)
		if _, err := path.Match(pat, ""); err != nil && len(matched) == 0 {
			p.add("", fmt.Sprintf("%s.column_names[%d]", at, j), "invalid pattern %q: %v", pat, err)
			continue
		}
		if len(matched) == 0 {
			msg := fmt.Sprintf("%q matches no %s", pat, where)
			if s := closest(pat, cols); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add("", fmt.Sprintf("%s.column_names[%d]", at, j), "%s", msg)
		}
		for _, m := range matched {
			explicit[m] = true
			if proc.Stage == StagePreBatch && len(sc.readers[m]) > 0 {
				p.add("", fmt.Sprintf("%s.column_names[%d]", at, j), "a pre_batch processor cannot drop %q: column %q reads it", m, sc.readers[m][0])
			}
		}
	}
}

// checkTemplateRefs checks that a schema_transform template reads only columns that exist
// at the processor's stage.
func (sc *processorScope) checkTemplateRefs(proc *Processor, at string, p *problems) {
	cols, where := sc.columns(proc)
	walkTemplate(proc.Template, "", func(path, src string) {
		refs, err := TemplateRefs(src)
		if err != nil {
			return // reported by the parser
		}
		for _, r := range refs {
			if slices.Contains(cols, r) {
				continue
			}
			msg := fmt.Sprintf("unknown reference %q: want a %s", r, where)
			if s := closest(r, cols); s != "" {
				msg = fmt.Sprintf("unknown reference %q: did you mean %q?", r, s)
			}
			p.add("", joinPath(at+".template", path), "%s", msg)
		}
	})
}

// addImplicitDrop appends the processor that drops the `drop: true` columns no explicit
// processor drops, as Data Designer does. Its name is reserved: a user processor holding it
// (names) is reported rather than silently shadowed.
func addImplicitDrop(c *Config, procs []*Processor, explicit map[string]bool, names uniqueNames, p *problems) []*Processor {
	var drop []string
	for _, col := range c.Columns {
		if col != nil && col.Drop && col.Name != "" && !explicit[col.Name] {
			drop = append(drop, col.Name)
		}
	}
	if len(drop) == 0 {
		return procs
	}
	if i, taken := names[DefaultDropColumns]; taken {
		p.add("", processorField(DefaultDropColumns, i)+".name", "the name %q is reserved for the processor that drops the columns marked drop: true (%s)", DefaultDropColumns, strings.Join(drop, ", "))
		return procs
	}
	return append(procs, &Processor{
		Name: DefaultDropColumns, Type: ProcessorDropColumns, Stage: StagePostBatch, Implicit: true,
		ColumnNames: drop, PreserveDroppedColumns: true,
	})
}

// checkProcessor makes the checks of a processor built in code that the parser makes while
// decoding (Validate's counterpart of parseProcessor).
func checkProcessor(proc *Processor, i int, p *problems) bool {
	before := len(p.errs)
	at := processorField(proc.Name, i)
	if err := checkProcessorName(proc.Name); err != nil {
		p.add("", at+".name", "%v", err)
	}
	if !slices.Contains(stages, proc.Stage) {
		p.add("", at+".stage", "%s", unknownMsg("stage", proc.Stage, stages))
	} else if proc.AllowResize && proc.Stage != StagePreBatch {
		p.add("", at+".allow_resize", "only a pre_batch processor may resize a row group (this one runs at %s)", proc.Stage)
	}
	switch proc.Type {
	case ProcessorDropColumns:
		if len(proc.ColumnNames) == 0 {
			p.add("", at+".column_names", "required")
		}
		for j, pat := range proc.ColumnNames {
			if pat == "" {
				p.add("", fmt.Sprintf("%s.column_names[%d]", at, j), "must not be empty")
			}
		}
	case ProcessorSchemaTransform:
		if len(proc.Template) == 0 {
			p.add("", at+".template", "required")
		}
		walkTemplate(proc.Template, "", func(path, src string) {
			if _, err := TemplateRefs(src); err != nil {
				p.add("", joinPath(at+".template", path), "invalid Jinja template: %v", err)
			}
		})
	case ProcessorExec:
		if len(proc.Command) == 0 || strings.TrimSpace(proc.Command[0]) == "" {
			p.add("", at+".command", "want the program and its arguments")
		}
		if err := checkTimeout(proc.Timeout.Seconds()); err != nil {
			p.add("", at+".timeout", "%v", err)
		}
	case ProcessorNATS:
		if err := checkSubject(proc.Subject); err != nil {
			p.add("", at+".subject", "%v", err)
		}
		if err := checkTimeout(proc.Timeout.Seconds()); err != nil {
			p.add("", at+".timeout", "%v", err)
		}
	default:
		p.add("", at+".processor_type", "%s", unknownMsg("processor_type", proc.Type, processorTypes))
	}
	return len(p.errs) == before
}
