package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rowforge/rowforge/pkg/frame"
)

// DefaultMaxConversationRestarts is MaxConversationRestarts when a column does not set it.
const DefaultMaxConversationRestarts = 5

// CodeLangs are the values of llm-code's `code_lang` (Data Designer's CodeLang).
var CodeLangs = []string{
	"bash", "c", "cobol", "cpp", "csharp", "go", "java", "javascript", "kotlin", "python", "ruby",
	"rust", "scala", "swift", "typescript",
	"sql:sqlite", "sql:tsql", "sql:bigquery", "sql:mysql", "sql:postgres", "sql:ansi",
}

// Data Designer's `with_trace` values.
const (
	TraceNone        = "none"
	TraceLastMessage = "last_message"
	TraceAllMessages = "all_messages"
)

var withTraceModes = []string{TraceNone, TraceLastMessage, TraceAllMessages}

// Suffixes of an LLM column's side columns, as Data Designer names them.
const (
	TraceSuffix     = "__trace"
	ReasoningSuffix = "__reasoning_content"
)

// parseLLM decodes the fields of an LLM column. Every LLM type stores its value as text: a
// structured or judge reply is kept as its JSON.
func parseLLM(f *fields, col *Column) {
	l := &LLM{MaxConversationRestarts: DefaultMaxConversationRestarts}
	col.LLM, col.Output = l, frame.String

	if a, ok := f.str("model_alias", true); ok {
		l.ModelAlias = a
		if strings.TrimSpace(a) == "" {
			f.errorf("model_alias", "must not be empty")
		}
	}
	var prompt, system []string
	l.Prompt, prompt = f.template("prompt", true)
	l.SystemPrompt, system = f.template("system_prompt", false)
	refs := slices.Concat(prompt, system)
	l.Images = parseImages(f)
	for _, im := range l.Images {
		refs = append(refs, im.Column)
	}
	slices.Sort(refs)
	col.Inputs = slices.Compact(refs)

	if n, ok := f.intAtLeast("max_conversation_restarts", 0); ok {
		l.MaxConversationRestarts = n
	}
	parseTrace(f, l)

	switch col.Type {
	case TypeLLMCode:
		if lang, ok := f.str("code_lang", true); ok {
			l.CodeLang = lang
			if !slices.Contains(CodeLangs, lang) {
				f.errorf("code_lang", "%s", unknownMsg("code_lang", lang, CodeLangs))
			}
		}
	case TypeLLMStructured:
		if v, ok := f.required("output_format"); ok {
			schema, isMap := v.(map[string]any)
			if !isMap {
				f.errorf("output_format", "want a JSON schema mapping, got %s", describe(v))
			} else {
				l.OutputFormat = schema
				if _, err := CompileSchema(schema); err != nil {
					f.errorf("output_format", "not a valid JSON schema: %v", err)
				}
			}
		}
	case TypeLLMJudge:
		if v, ok := f.required("scores"); ok {
			l.Scores = parseScores(f, v)
		}
	}
}

// parseImages decodes multi_modal_context: image entries only (Data Designer's audio and
// video contexts are not supported yet).
func parseImages(f *fields) []ImageContext {
	v, ok := f.get("multi_modal_context")
	if !ok || isEmpty(v) {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		f.errorf("multi_modal_context", "want a list of contexts, got %s", describe(v))
		return nil
	}
	var out []ImageContext
	for _, sub := range f.mappings("multi_modal_context", list, "want a context mapping") {
		if mod, ok := sub.str("modality", true); ok && mod != "image" {
			sub.errorf("modality", "modality %q is not supported yet (image is)", mod)
		}
		var im ImageContext
		im.Column, _ = sub.str("column_name", true)
		if dt, ok := sub.str("data_type", false); ok {
			if dt != ImageURL && dt != ImageBase64 {
				sub.errorf("data_type", "%s", unknownMsg("data_type", dt, []string{ImageURL, ImageBase64}))
			}
			im.DataType = dt
		}
		if fm, ok := sub.str("image_format", false); ok {
			if !slices.Contains(ImageFormats, fm) {
				sub.errorf("image_format", "%s", unknownMsg("image_format", fm, ImageFormats))
			}
			im.Format = fm
		}
		if im.DataType == ImageBase64 && im.Format == "" {
			sub.errorf("image_format", "required when data_type is base64")
		}
		sub.unknown()
		out = append(out, im)
	}
	return out
}

// parseTrace decodes with_trace and extract_reasoning_content, which add side columns, and
// tool_alias.
func parseTrace(f *fields, l *LLM) {
	l.ToolAlias, _ = f.str("tool_alias", false)
	l.WithTrace = TraceNone
	if s, ok := f.str("with_trace", false); ok {
		if !slices.Contains(withTraceModes, s) {
			f.errorf("with_trace", "%s", unknownMsg("with_trace", s, withTraceModes))
		} else {
			l.WithTrace = s
		}
	}
	l.ExtractReasoning, _ = f.bool("extract_reasoning_content")
}

// SideColumns are the columns an LLM column writes beside its own, as Data Designer names
// them: `<name>__trace` (with_trace) and `<name>__reasoning_content`. Other columns may read
// them; they come right after the column in the output.
func (c *Column) SideColumns() []string {
	if c.LLM == nil {
		return nil
	}
	var out []string
	if c.LLM.WithTrace != "" && c.LLM.WithTrace != TraceNone {
		out = append(out, c.Name+TraceSuffix)
	}
	if c.LLM.ExtractReasoning {
		out = append(out, c.Name+ReasoningSuffix)
	}
	return out
}

// OutputColumns lists the dataset's columns in order: each column, then its side columns.
func (c *Config) OutputColumns() []string {
	var out []string
	for _, col := range c.Columns {
		out = append(out, col.Name)
		out = append(out, col.SideColumns()...)
	}
	return out
}

// parseScores decodes llm-judge's `scores`. Option keys arrive as strings already: the config
// tree went through the same JSON normalization as Data Designer's (`4:` is "4").
func parseScores(f *fields, v any) []Score {
	list, ok := v.([]any)
	if !ok {
		f.errorf("scores", "want a list of scores, got %s", describe(v))
		return nil
	}
	if len(list) == 0 {
		f.errorf("scores", "must list at least one score")
		return nil
	}
	scores := make([]Score, 0, len(list))
	names := uniqueNames{}
	for i, sf := range f.mappings("scores", list, "want a mapping with name, description and options") {
		var s Score
		if name, ok := sf.str("name", true); ok {
			s.Name = name
			names.named(sf, "name", name, i, "score name", "scores")
		}
		s.Description, _ = sf.str("description", true)
		if ov, ok := sf.required("options"); ok {
			s.Options = scoreOptions(sf, ov)
		}
		sf.unknown()
		scores = append(scores, s)
	}
	return scores
}

func scoreOptions(f *fields, v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		f.errorf("options", "want a mapping from each score to what it means, got %s", describe(v))
		return nil
	}
	if len(m) == 0 {
		f.errorf("options", "must list at least one option")
		return nil
	}
	opts := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		s, isStr := m[k].(string)
		if !isStr {
			f.errorf("options."+k, "want a string, got %s", describe(m[k]))
			continue
		}
		opts[k] = s
	}
	return opts
}

// schemaURL is where CompileSchema places the schema. It is not a file: relative references
// resolve against it and then fail to load, rather than reading files next to the process.
const schemaURL = "mem:///output_format.json"

// refusingLoader is the loader of CompileSchema: an output_format must be self-contained.
// Loading a `$ref` from a file or the network while reading a config would make a config's
// meaning depend on where, and when, it is loaded.
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, errors.New("a schema cannot load other documents: put the definitions it needs under $defs")
}

// CompileSchema compiles an llm-structured column's output_format the way Parse checks it:
// the JSON Schema draft its `$schema` names (2020-12 by default), unknown keywords (pydantic's
// `decimal_places`) ignored, no references outside the schema itself. The engine validates
// replies with the schema it returns, so a reply is checked against exactly what was checked
// at load time. The schema is shared with the caller and is not modified.
func CompileSchema(schema map[string]any) (sch *jsonschema.Schema, err error) {
	// The compiler is third-party code fed with user input.
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("schema compiler failed: %v", r)
		}
	}()
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	if err := c.AddResource(schemaURL, schema); err != nil {
		return nil, schemaError(err)
	}
	sch, err = c.Compile(schemaURL)
	if err != nil {
		return nil, schemaError(err)
	}
	return sch, nil
}

// schemaError rewrites a compiler error for a config's author: the schema's own problems
// without the metaschema's allOf/anyOf scaffolding, and without the made-up URL the schema
// was compiled under.
func schemaError(err error) error {
	var (
		sve *jsonschema.SchemaValidationError
		ve  *jsonschema.ValidationError
		le  *jsonschema.LoadURLError
	)
	switch {
	case errors.As(err, &sve) && errors.As(sve.Err, &ve):
		var msgs []string
		var leaves func(*jsonschema.ValidationError)
		leaves = func(e *jsonschema.ValidationError) {
			if len(e.Causes) == 0 {
				leaf := &jsonschema.ValidationError{InstanceLocation: e.InstanceLocation, ErrorKind: e.ErrorKind}
				msgs = append(msgs, leaf.Error())
			}
			for _, c := range e.Causes {
				leaves(c)
			}
		}
		leaves(ve)
		return errors.New(strings.Join(slices.Compact(msgs), "; "))
	case errors.As(err, &le):
		return fmt.Errorf("%q: %v", strings.TrimPrefix(le.URL, "mem:///"), le.Err)
	}
	msg := strings.ReplaceAll(err.Error(), schemaURL, "")
	return errors.New(strings.ReplaceAll(msg, "mem:///", ""))
}

// checkLLM makes the checks of an LLM column built in code that the parser makes while
// decoding (Validate's counterpart of parseLLM). Inputs must already be set.
func checkLLM(col *Column, p *problems) {
	l := col.LLM
	if l == nil {
		p.add(col.Name, "", "an %s column needs its LLM settings (Column.LLM is nil)", col.Type)
		return
	}
	if strings.TrimSpace(l.ModelAlias) == "" {
		p.add(col.Name, "model_alias", "required")
	}
	if strings.TrimSpace(l.Prompt) == "" {
		p.add(col.Name, "prompt", "must not be blank")
	} else if _, err := TemplateRefs(l.Prompt); err != nil {
		p.add(col.Name, "prompt", "invalid Jinja template: %v", err)
	}
	if _, err := TemplateRefs(l.SystemPrompt); err != nil {
		p.add(col.Name, "system_prompt", "invalid Jinja template: %v", err)
	}
	if l.MaxConversationRestarts < 0 {
		p.add(col.Name, "max_conversation_restarts", "must be at least 0, got %d", l.MaxConversationRestarts)
	}
	switch col.Type {
	case TypeLLMCode:
		if !slices.Contains(CodeLangs, l.CodeLang) {
			p.add(col.Name, "code_lang", "%s", unknownMsg("code_lang", l.CodeLang, CodeLangs))
		}
	case TypeLLMStructured:
		if l.OutputFormat == nil {
			p.add(col.Name, "output_format", "required")
		} else if _, err := CompileSchema(l.OutputFormat); err != nil {
			p.add(col.Name, "output_format", "not a valid JSON schema: %v", err)
		}
	case TypeLLMJudge:
		if len(l.Scores) == 0 {
			p.add(col.Name, "scores", "must list at least one score")
		}
		names := uniqueNames{}
		for i, s := range l.Scores {
			at := fmt.Sprintf("scores[%d]", i)
			names.required(p, col.Name, at+".name", s.Name, i, "score name", "scores")
			if len(s.Options) == 0 {
				p.add(col.Name, at+".options", "must list at least one option")
			}
		}
	}
}

// promptField is the field of an LLM column that reads column in, for error messages.
func promptField(c *Column, in string) string {
	if c.LLM != nil {
		inPrompt, _ := TemplateRefs(c.LLM.Prompt)
		inSystem, _ := TemplateRefs(c.LLM.SystemPrompt)
		if slices.Contains(inSystem, in) && !slices.Contains(inPrompt, in) {
			return "system_prompt"
		}
		if !slices.Contains(inPrompt, in) {
			for i, im := range c.LLM.Images {
				if im.Column == in {
					return fmt.Sprintf("multi_modal_context[%d].column_name", i)
				}
			}
		}
	}
	return "prompt"
}

// checkModelRefs checks that every LLM column names a model of the config. Columns whose alias
// is missing have that reported already. When a model entry has no usable alias, an alias
// that matches none is most likely that entry's, whose problem is reported already as well.
func checkModelRefs(cols []*Column, models []*Model, aliasless bool, p *problems) {
	var aliases []string
	for _, m := range models {
		if m != nil && m.Alias != "" {
			aliases = append(aliases, m.Alias)
		}
	}
	kind := map[string]string{} // alias → generation type
	for _, m := range models {
		if m != nil {
			kind[m.Alias] = m.Params.GenerationType
		}
	}
	for _, c := range cols {
		if c == nil || c.LLM == nil || strings.TrimSpace(c.LLM.ModelAlias) == "" {
			continue
		}
		alias := c.LLM.ModelAlias
		switch {
		case slices.Contains(aliases, alias) && (c.Type == TypeEmbedding) != (kind[alias] == GenerationEmbedding):
			if c.Type == TypeEmbedding {
				p.add(c.Name, "model_alias", "model %q is a chat-completion model; an embedding column needs one with generation_type: embedding", alias)
			} else {
				p.add(c.Name, "model_alias", "model %q is an embedding model; a %s column needs a chat-completion model", alias, c.Type)
			}
		case slices.Contains(aliases, alias):
		case len(aliases) == 0 && !aliasless:
			p.add(c.Name, "model_alias", "unknown model alias %q: model_configs is required for LLM columns, and the config has none", alias)
		case aliasless:
		default:
			p.add(c.Name, "model_alias", "%s", unknownName("model alias", alias, aliases, "model_configs"))
		}
	}
}
