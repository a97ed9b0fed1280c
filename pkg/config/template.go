package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/nikolalohinski/gonja/v2"
	gonjaconfig "github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// TemplateRefs checks that src is a valid Jinja template and returns the variables it reads
// from its context, sorted and unique: the columns an expression depends on. It follows Python
// jinja2's meta.find_undeclared_variables, the way Data Designer derives `required_columns`,
// over gonja's token stream: names inside `{{ }}` and `{% %}` count, except attribute names
// (`a.b` reads a), filter names (`a | upper`), test names (`a is defined`), keyword arguments
// (`f(k=v)` reads v), keywords and literals, Jinja's global functions and variables (range,
// loop, namespace, …), and names the template declares itself (for targets, set, with, macro
// and call parameters) within their scope.
//
// Templates that load other templates (extends, include, import, from) are rejected: an
// expression has no template directory to load from, and gonja would read the file while
// parsing, which loading a config must never do.
func TemplateRefs(src string) ([]string, error) {
	tags, err := lexTags(src)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if t.block && len(t.toks) > 0 && t.toks[0].Type == tokens.Name {
			switch stmt := t.toks[0].Val; stmt {
			case "extends", "include", "import", "from":
				return nil, fmt.Errorf("{%% %s %%} is not supported: an expression cannot load other templates (line %d)", stmt, t.toks[0].Line)
			}
		}
	}
	if err := parseJinja(src); err != nil {
		return nil, err
	}
	a := &analyzer{scopes: []scope{{}}, refs: map[string]bool{}}
	for _, t := range tags {
		if t.block {
			a.statement(t.toks)
		} else {
			a.expr(t.toks)
		}
	}
	refs := make([]string, 0, len(a.refs))
	for r := range a.refs {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	return refs, nil
}

// parseJinja parses src with gonja, the engine that renders expressions, so that a config
// that loads is one whose templates compile. gonja is third-party code fed with user input:
// a panic there is turned into an error rather than taking the caller down.
func parseJinja(src string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template parser failed: %v", r)
		}
	}()
	if _, err = gonja.FromString(src); err != nil {
		// gonja wraps the parser's message in one that repeats the whole source, and its
		// errors carry stack traces that %+v would print: keep the message only.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return errors.New(err.Error())
	}
	return nil
}

// tag is the token run of one `{{ … }}` (block false) or `{% … %}` (block true), delimiters
// and whitespace excluded.
type tag struct {
	block bool
	toks  []*tokens.Token
}

// lexTags splits a template into its tags. Text, comments and raw blocks are not code and are
// left out.
func lexTags(src string) ([]tag, error) {
	s := tokens.LexAll(src, gonjaconfig.New())
	var (
		tags []tag
		cur  *tag
	)
	for !s.End() {
		t := s.Next()
		switch t.Type {
		case tokens.VariableBegin, tokens.BlockBegin:
			tags = append(tags, tag{block: t.Type == tokens.BlockBegin})
			cur = &tags[len(tags)-1]
		case tokens.VariableEnd, tokens.BlockEnd:
			cur = nil
		default:
			if cur != nil {
				cur.toks = append(cur.toks, t)
			}
		}
	}
	if s.IsError() {
		t := s.Current()
		return nil, fmt.Errorf("%s (line %d, column %d)", t.Val, t.Line, t.Col)
	}
	return tags, nil
}

// exprKeywords are the names that are operators or literals in a Jinja expression.
var exprKeywords = map[string]bool{
	"if": true, "else": true, "and": true, "or": true, "not": true, "in": true, "is": true,
	"true": true, "false": true, "none": true, "True": true, "False": true, "None": true,
}

// jinjaGlobals are the functions and variables Jinja provides to every template (and to macro
// bodies), which therefore never name a column.
var jinjaGlobals = map[string]bool{
	"range": true, "lipsum": true, "dict": true, "cycler": true, "joiner": true, "namespace": true,
	"loop": true, "super": true, "self": true, "varargs": true, "kwargs": true, "caller": true,
}

// scope holds the names a template declares in one block: the template itself, a for loop, a
// macro or call body, or a with block.
type scope struct {
	kind  string
	names map[string]bool
}

type analyzer struct {
	scopes []scope
	refs   map[string]bool
}

func (a *analyzer) declared(name string) bool {
	for _, s := range a.scopes {
		if s.names[name] {
			return true
		}
	}
	return false
}

// declare adds names to the innermost scope, as `{% set %}` does: a set inside a loop does not
// leak out of it.
func (a *analyzer) declare(names ...string) {
	s := &a.scopes[len(a.scopes)-1]
	if s.names == nil {
		s.names = map[string]bool{}
	}
	for _, n := range names {
		s.names[n] = true
	}
}

func (a *analyzer) push(kind string, names []string) {
	a.scopes = append(a.scopes, scope{kind: kind})
	a.declare(names...)
}

// pop closes the innermost scope of the given kind, and any left open inside it.
func (a *analyzer) pop(kind string) {
	for i := len(a.scopes) - 1; i > 0; i-- {
		if a.scopes[i].kind == kind {
			a.scopes = a.scopes[:i]
			return
		}
	}
}

func (a *analyzer) use(name string) {
	if !exprKeywords[name] && !jinjaGlobals[name] && !a.declared(name) {
		a.refs[name] = true
	}
}

// expr records the variables an expression reads. extra are names that are keywords in the
// enclosing statement (`recursive` in a for loop).
func (a *analyzer) expr(toks []*tokens.Token, extra ...string) {
	depth := 0 // parentheses: a `name=` inside them is a keyword argument
	for i, t := range toks {
		switch t.Type {
		case tokens.LeftParenthesis:
			depth++
		case tokens.RightParenthesis:
			depth--
		case tokens.Name:
			if i > 0 {
				switch toks[i-1].Type {
				case tokens.Dot, tokens.Pipe, tokens.Is: // attribute, filter, test
					continue
				case tokens.Not: // `is not test`
					if i > 1 && toks[i-2].Type == tokens.Is {
						continue
					}
				}
			}
			if depth > 0 && i+1 < len(toks) && toks[i+1].Type == tokens.Assign {
				continue
			}
			if slices.Contains(extra, t.Val) {
				continue
			}
			a.use(t.Val)
		}
	}
}

// statement handles one `{% … %}` tag, whose first token names the statement.
func (a *analyzer) statement(toks []*tokens.Token) {
	if len(toks) == 0 || toks[0].Type != tokens.Name {
		a.expr(toks)
		return
	}
	rest := toks[1:]
	switch toks[0].Val {
	case "for":
		a.forLoop(rest)
	case "endfor":
		a.pop("for")
	case "set":
		a.set(rest)
	case "with":
		a.with(rest)
	case "endwith":
		a.pop("with")
	case "macro":
		if len(rest) > 0 && rest[0].Type == tokens.Name {
			a.declare(rest[0].Val)
			rest = rest[1:]
		}
		a.push("macro", a.params(rest))
	case "endmacro":
		a.pop("macro")
	case "call":
		params, rest := a.paramsAndRest(rest)
		a.expr(rest)
		a.push("call", params)
	case "endcall":
		a.pop("call")
	case "filter":
		if len(rest) > 0 && rest[0].Type == tokens.Name { // the filter's name
			rest = rest[1:]
		}
		a.expr(rest)
	case "block", "endblock", "raw", "endraw", "trans", "pluralize", "endtrans":
		// names here are block names and translation variables, not reads
	default: // if, elif, else, endif, do, autoescape, …
		a.expr(rest)
	}
}

// forLoop handles `for targets in iterable [if condition] [recursive]`. The iterable is read
// outside the loop; the targets are visible to the condition and the body.
func (a *analyzer) forLoop(toks []*tokens.Token) {
	in := topLevel(toks, func(t *tokens.Token) bool { return t.Type == tokens.In || isName(t, "in") })
	if in < 0 {
		a.expr(toks)
		return
	}
	var targets []string
	for _, t := range toks[:in] {
		if t.Type == tokens.Name {
			targets = append(targets, t.Val)
		}
	}
	iter, cond := toks[in+1:], []*tokens.Token(nil)
	if k := topLevel(iter, func(t *tokens.Token) bool { return isName(t, "if") }); k >= 0 {
		iter, cond = iter[:k], iter[k+1:]
	}
	a.expr(iter, "recursive")
	a.push("for", targets)
	a.expr(cond, "recursive")
}

// set handles `set targets = value` and the block form `set target [| filters]`. The value is
// read before the targets exist (`set x = x + 1` reads x). `set ns.attr = v` reads ns.
func (a *analyzer) set(toks []*tokens.Token) {
	lhs, rhs := toks, []*tokens.Token(nil)
	if eq := topLevel(toks, func(t *tokens.Token) bool { return t.Type == tokens.Assign }); eq >= 0 {
		lhs, rhs = toks[:eq], toks[eq+1:]
	} else if p := topLevel(toks, func(t *tokens.Token) bool { return t.Type == tokens.Pipe }); p >= 0 {
		lhs, rhs = toks[:p], toks[p:]
	}
	a.expr(rhs)
	var targets []string
	for i, t := range lhs {
		if t.Type != tokens.Name || (i > 0 && lhs[i-1].Type == tokens.Dot) {
			continue
		}
		if i+1 < len(lhs) && (lhs[i+1].Type == tokens.Dot || lhs[i+1].Type == tokens.LeftBracket) {
			a.use(t.Val)
			continue
		}
		targets = append(targets, t.Val)
	}
	a.declare(targets...)
}

// with handles `with a = x, b = y`: the values are read outside, the names exist inside.
func (a *analyzer) with(toks []*tokens.Token) {
	var names []string
	for _, part := range splitTopLevel(toks) {
		if len(part) >= 2 && part[0].Type == tokens.Name && part[1].Type == tokens.Assign {
			names = append(names, part[0].Val)
			a.expr(part[2:])
			continue
		}
		a.expr(part)
	}
	a.push("with", names)
}

// params reads a parameter list `(a, b=default, …)`, recording what the defaults read, and
// returns the parameter names.
func (a *analyzer) params(toks []*tokens.Token) []string {
	names, _ := a.paramsAndRest(toks)
	return names
}

// paramsAndRest is params for a list that may be followed by more tokens (`call(x) m(x)`),
// which it returns. Without a leading parenthesis there are no parameters.
func (a *analyzer) paramsAndRest(toks []*tokens.Token) ([]string, []*tokens.Token) {
	if len(toks) == 0 || toks[0].Type != tokens.LeftParenthesis {
		return nil, toks
	}
	var names []string
	param := func(seg []*tokens.Token) {
		if len(seg) > 0 && seg[0].Type == tokens.Name {
			names = append(names, seg[0].Val)
			if len(seg) > 1 && seg[1].Type == tokens.Assign {
				a.expr(seg[2:])
			}
		}
	}
	inner, rest := toks[1:], []*tokens.Token(nil) // unbalanced: the parser has rejected it already
	if end := topLevel(toks, closes); end >= 0 {
		inner, rest = toks[1:end], toks[end+1:]
	}
	for _, seg := range splitTopLevel(inner) {
		param(seg)
	}
	return names, rest
}

// closes reports whether t closes a bracket. As the match of topLevel on a list that opens
// with one, it finds the bracket that closes the list.
func closes(t *tokens.Token) bool {
	switch t.Type {
	case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
		return true
	}
	return false
}

// topLevel returns the index of the first token outside any brackets that matches, or -1.
func topLevel(toks []*tokens.Token, match func(*tokens.Token) bool) int {
	depth := 0
	for i, t := range toks {
		switch t.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			depth++
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			depth--
		}
		if depth == 0 && match(t) {
			return i
		}
	}
	return -1
}

// splitTopLevel splits toks at the commas outside any brackets.
func splitTopLevel(toks []*tokens.Token) [][]*tokens.Token {
	var parts [][]*tokens.Token
	for {
		i := topLevel(toks, func(t *tokens.Token) bool { return t.Type == tokens.Comma })
		if i < 0 {
			return append(parts, toks)
		}
		parts = append(parts, toks[:i])
		toks = toks[i+1:]
	}
}

func isName(t *tokens.Token, name string) bool { return t.Type == tokens.Name && t.Val == name }
