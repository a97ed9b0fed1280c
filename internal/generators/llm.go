package generators

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/tools"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Completer is what an LLM column needs of its model (an *llm.Model).
type Completer interface {
	Complete(ctx context.Context, req llm.Request) (llm.Reply, error)
}

// Toolbox is what an LLM column with a tool_alias needs of its tools (a *tools.Toolset).
type Toolbox interface {
	// Tools are the tools the model may call; a *tools.ConfigError says they cannot work.
	Tools(ctx context.Context) ([]llm.Tool, error)
	// Call runs a call and returns its result for the model.
	Call(ctx context.Context, call llm.ToolCall) (string, error)
	// MaxTurns is how many replies may ask for tools before their requests are refused.
	MaxTurns() int
}

// ToolRefusal is the result of a call asked for past the turns allowed, Data Designer's.
const ToolRefusal = "Tool call refused: You have reached the maximum number of tool-calling turns. " +
	"Please provide your final response without requesting additional tool calls."

// maxRefusedTurns bounds the turns a model may keep asking for tools after refusals, where
// Data Designer would ask again forever.
const maxRefusedTurns = 3

// LLM returns the cell-by-cell generator of an LLM column: each row renders the column's
// prompts over the row's inputs (a structured column's JSON is an object there, so
// `{{ recipe.title }}` works) and asks model. What the reply becomes depends on the type:
// llm-text keeps it, llm-code keeps the code (the fenced block, preferring the column's
// language), llm-structured and llm-judge keep the JSON, validated — a reply that fails is asked
// again from scratch up to max_conversation_restarts times, then the row is dropped.
//
// With a tool_alias, the model may call the tools of toolbox: each reply that asks for tools
// is a turn, whose calls run and whose results go back to the model, until it answers; past
// max_tool_call_turns its requests are refused, as Data Designer does. A restart (an answer
// that fails validation) goes back to after the last turn: tools are not called twice.
//
// A model that stays unavailable past its patience, or tools that cannot work with their
// providers (a *tools.ConfigError), fail the group (and so the run); any other failure drops
// the row.
func LLM(col *config.Column, model Completer, toolbox Toolbox) (*scheduler.Generator, error) {
	if col == nil || col.LLM == nil {
		return nil, errors.New("generators: not an LLM column")
	}
	if model == nil {
		return nil, fmt.Errorf("column %q: no model %q", col.Name, col.LLM.ModelAlias)
	}
	if col.LLM.ToolAlias != "" && toolbox == nil {
		return nil, fmt.Errorf("column %q: no tools %q", col.Name, col.LLM.ToolAlias)
	}
	g := &llmColumn{col: col, model: model, toolbox: toolbox}
	var err error
	if g.prompt, err = jinja.Compile(col.LLM.Prompt); err != nil {
		return nil, fmt.Errorf("column %q: compile prompt: %w", col.Name, err)
	}
	if col.LLM.SystemPrompt != "" {
		if g.system, err = jinja.Compile(col.LLM.SystemPrompt); err != nil {
			return nil, fmt.Errorf("column %q: compile system_prompt: %w", col.Name, err)
		}
	}
	switch col.Type {
	case config.TypeLLMStructured:
		g.schema = col.LLM.OutputFormat
	case config.TypeLLMJudge:
		g.schema, g.rubric = judgeSchema(col.LLM.Scores), judgeRubric(col.LLM.Scores)
	}
	if g.schema != nil {
		if g.validator, err = config.CompileSchema(g.schema); err != nil {
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
	}
	g.sides = col.SideColumns()
	return withSkip(&scheduler.Generator{Name: col.Name, Type: frame.String, Cell: g.cell, Side: g.sides}, col)
}

type llmColumn struct {
	col            *config.Column
	model          Completer
	toolbox        Toolbox // nil without tool_alias
	prompt, system *exec.Template
	schema         map[string]any
	validator      *jsonschema.Schema
	rubric         string // llm-judge: appended to the prompt
	sides          []string
}

func (g *llmColumn) cell(ctx context.Context, row map[string]any) (any, error) {
	data := make(map[string]any, len(row))
	for k, v := range row {
		data[k] = jinja.Value(v)
	}
	req := llm.Request{SchemaName: schemaName(g.col.Name)}
	var err error
	if req.Prompt, err = renderPrompt(g.prompt, data); err != nil {
		return nil, fmt.Errorf("column %q: prompt: %w", g.col.Name, err)
	}
	req.Prompt += g.rubric
	if g.system != nil {
		if req.System, err = renderPrompt(g.system, data); err != nil {
			return nil, fmt.Errorf("column %q: system_prompt: %w", g.col.Name, err)
		}
	}
	if g.schema != nil {
		req.Schema = g.schema
	}
	if req.Images, err = imageURLs(g.col.LLM.Images, row); err != nil {
		return nil, fmt.Errorf("column %q: %w", g.col.Name, err)
	}
	if g.toolbox != nil {
		if req.Tools, err = g.toolbox.Tools(ctx); err != nil {
			return nil, g.fail(err)
		}
	}
	tries := 1
	if g.validator != nil || g.col.Type == config.TypeLLMCode {
		tries += max(g.col.LLM.MaxConversationRestarts, 0)
	}
	var invalid error
	var checkpoint []llm.Message // the conversation after the last turn of tool calls
	turns := 0
	for range tries {
		req.History = checkpoint
		for {
			reply, err := g.model.Complete(ctx, req)
			if err != nil {
				return nil, g.fail(err)
			}
			if len(reply.ToolCalls) == 0 || g.toolbox == nil {
				var value string
				if value, invalid = g.accept(reply.Content); invalid == nil {
					return g.withSides(value, reply)
				}
				break
			}
			turns++
			if turns > g.toolbox.MaxTurns()+maxRefusedTurns {
				return nil, fmt.Errorf("column %q: the model kept asking for tools after %d refusals", g.col.Name, maxRefusedTurns)
			}
			results, err := g.callTools(ctx, reply.ToolCalls, turns > g.toolbox.MaxTurns())
			if err != nil {
				return nil, g.fail(err)
			}
			asked := llm.TextMessage("assistant", reply.Content)
			asked.ReasoningContent, asked.ToolCalls = reply.Reasoning, reply.ToolCalls
			checkpoint = append(append(slices.Clip(req.History), asked), results...)
			req.History = checkpoint
		}
	}
	return nil, fmt.Errorf("column %q: no valid reply in %d attempts: %w", g.col.Name, tries, invalid)
}

// fail wraps an error of the column: fatal (the group fails) when the model stays unavailable,
// answers what is not a chat completion, or the column's tools cannot work; the row's otherwise.
func (g *llmColumn) fail(err error) error {
	err = &scheduler.ColumnError{Column: g.col.Name, Err: err}
	var broken *tools.ConfigError
	if modelFailed(err) || errors.As(err, &broken) {
		return &scheduler.FatalError{Err: err}
	}
	return err
}

// modelFailed reports whether err is a model's failure that every row would meet alike: one
// that answers only errors (past the patience), or one whose replies are not what the API
// promises.
func modelFailed(err error) bool {
	var unavailable *llm.UnavailableError
	var bad *llm.BadReplyError
	return errors.As(err, &unavailable) || errors.As(err, &bad)
}

// callTools runs a turn's calls at once and returns their results as tool messages, in the
// calls' order; refused, it answers each with ToolRefusal instead.
func (g *llmColumn) callTools(ctx context.Context, calls []llm.ToolCall, refused bool) ([]llm.Message, error) {
	out := make([]llm.Message, len(calls))
	errs := make([]error, len(calls))
	ctx, cancel := context.WithCancelCause(ctx) // the first failure drops the row: stop the others
	defer cancel(nil)
	var wg sync.WaitGroup
	for i, c := range calls {
		if refused {
			out[i] = llm.TextMessage("tool", ToolRefusal)
			out[i].ToolCallID = c.ID
			continue
		}
		wg.Go(func() {
			text, err := g.toolbox.Call(ctx, c)
			if err != nil {
				cancel(err)
			}
			out[i], errs[i] = llm.TextMessage("tool", text), err
			out[i].ToolCallID = c.ID
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err // the first failure, not the cancellations it caused
	}
	return out, errors.Join(errs...)
}

// withSides returns the cell's value, and with side columns the values of those too: the
// trace (all messages, or the last assistant message, as JSON) and the stripped reasoning.
func (g *llmColumn) withSides(value string, reply llm.Reply) (any, error) {
	if len(g.sides) == 0 {
		return value, nil
	}
	out := []any{value}
	switch g.col.LLM.WithTrace {
	case config.TraceAllMessages:
		b, err := json.Marshal(reply.Trace)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	case config.TraceLastMessage:
		last := []llm.Message{}
		for i := len(reply.Trace) - 1; i >= 0; i-- {
			if reply.Trace[i].Role == "assistant" {
				last = append(last, reply.Trace[i])
				break
			}
		}
		b, err := json.Marshal(last)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	if g.col.LLM.ExtractReasoning {
		var reasoning any
		if r := strings.TrimSpace(reply.Reasoning); r != "" {
			reasoning = r
		}
		out = append(out, reasoning)
	}
	return out, nil
}

// accept turns a reply into the cell's value, or says why the reply is not usable.
func (g *llmColumn) accept(content string) (string, error) {
	switch g.col.Type {
	case config.TypeLLMCode:
		code := ExtractCode(content, g.col.LLM.CodeLang)
		if code == "" {
			return "", errors.New("the reply holds no code")
		}
		return code, nil
	case config.TypeLLMStructured, config.TypeLLMJudge:
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(stripFence(content)))
		if err != nil {
			return "", fmt.Errorf("the reply is not JSON: %w", err)
		}
		if err := g.validator.Validate(doc); err != nil {
			return "", fmt.Errorf("the reply does not match the schema: %w", err)
		}
		if g.col.Type == config.TypeLLMJudge {
			if err := checkScores(doc, g.col.LLM.Scores); err != nil {
				return "", err
			}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return strings.TrimSpace(content), nil
}

func renderPrompt(tpl *exec.Template, data map[string]any) (string, error) {
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, exec.NewContext(data)); err != nil {
		return "", err
	}
	return buf.String(), nil
}

var fenceRe = regexp.MustCompile("(?s)```([A-Za-z0-9_:+#.-]*)[ \t]*\r?\n(.*?)```")

// ExtractCode returns the code of a reply: the first fenced block in lang (sql:postgres matches
// ```sql), else the first fenced block, else the whole reply when it has no fence at all.
func ExtractCode(reply, lang string) string {
	blocks := fenceRe.FindAllStringSubmatch(reply, -1)
	if len(blocks) == 0 {
		return strings.TrimSpace(reply)
	}
	base, _, _ := strings.Cut(strings.ToLower(lang), ":")
	for _, b := range blocks {
		if l := strings.ToLower(b[1]); l == base || l == strings.ToLower(lang) {
			return strings.TrimSpace(b[2])
		}
	}
	return strings.TrimSpace(blocks[0][2])
}

// stripFence removes a ```json fence that models put around JSON although asked not to.
func stripFence(s string) string {
	if m := fenceRe.FindStringSubmatch(s); m != nil && strings.TrimSpace(s[:strings.Index(s, "```")]) == "" {
		return m[2]
	}
	return s
}

var nameRe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// schemaName is the response_format name OpenAI accepts: [A-Za-z0-9_-]{1,64}.
func schemaName(col string) string {
	n := nameRe.ReplaceAllString(col, "_")
	if len(n) > 64 {
		n = n[:64]
	}
	if n == "" {
		n = "output"
	}
	return n
}

// judgeSchema asks for one {reasoning, score} object per score, Data Designer's judge output.
func judgeSchema(scores []config.Score) map[string]any {
	props := map[string]any{}
	required := make([]any, 0, len(scores))
	for _, s := range scores {
		var options []any
		for _, k := range slices.Sorted(maps.Keys(s.Options)) {
			if n, err := strconv.ParseInt(k, 10, 64); err == nil {
				options = append(options, n)
			}
			options = append(options, k)
		}
		props[s.Name] = map[string]any{
			"type": "object",
			"properties": map[string]any{
				"reasoning": map[string]any{"type": "string"},
				"score":     map[string]any{"enum": options},
			},
			"required": []any{"reasoning", "score"},
		}
		required = append(required, s.Name)
	}
	return map[string]any{"type": "object", "properties": props, "required": required}
}

func judgeRubric(scores []config.Score) string {
	var b strings.Builder
	b.WriteString("\n\nJudge it on each of these criteria. For each, give a short reasoning and one of the allowed scores.\n")
	for _, s := range scores {
		fmt.Fprintf(&b, "\n%s: %s\n", s.Name, s.Description)
		for _, k := range slices.Sorted(maps.Keys(s.Options)) {
			fmt.Fprintf(&b, "  %s: %s\n", k, s.Options[k])
		}
	}
	b.WriteString("\nAnswer with a JSON object that has one key per criterion, each {\"reasoning\": \"...\", \"score\": ...}.")
	return b.String()
}

// checkScores requires each score's value to be one of its options, as a number or its text.
func checkScores(doc any, scores []config.Score) error {
	obj, _ := doc.(map[string]any)
	for _, s := range scores {
		entry, _ := obj[s.Name].(map[string]any)
		v := fmt.Sprint(entry["score"])
		if _, ok := s.Options[v]; !ok {
			return fmt.Errorf("score %q is %s, not one of its options", s.Name, v)
		}
	}
	return nil
}
