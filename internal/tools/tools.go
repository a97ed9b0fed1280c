// Package tools gives LLM columns the MCP tools of their tool_configs: one session per MCP
// provider and run, opened when a column first needs it and shared by the run's columns,
// over stdio (a program the worker starts), SSE or streamable HTTP.
//
// It follows Data Designer's MCP facade: a tool config's tools are the union of its
// providers' (a name on two providers is an error), narrowed to allow_tools (each of which
// must exist); a call of a tool outside them, with arguments that are not JSON, or that
// fails or times out is an error of the row; a tool's own error (isError) is its result,
// for the model to read.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/config"
)

// ConnectTimeout bounds opening a provider's session and listing its tools.
const ConnectTimeout = 60 * time.Second

// DefaultCallTimeout bounds a tool call when its config has no timeout_sec (Data Designer
// waits forever): a server that stops answering drops rows instead of holding the run.
const DefaultCallTimeout = 5 * time.Minute

// ConfigError is a tool config that cannot work with its providers as they are: a provider
// that cannot be reached or started, a tool name on two of them, an allowed tool on none.
// Every row of its columns would fail alike, so callers fail the run rather than the row.
type ConfigError struct {
	Alias string // the tool config
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("tool config %q: %v", e.Alias, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// Registry holds the sessions of one run's MCP providers. Close ends them (and the stdio
// programs); it is the owner of every goroutine the package starts.
type Registry struct {
	providers map[string]*config.MCPProvider
	log       *slog.Logger
	ctx       context.Context // ends at Close: connections in progress stop
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
}

// NewRegistry returns a registry of providers; nothing is started before a tool set needs it.
func NewRegistry(providers []*config.MCPProvider, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{providers: map[string]*config.MCPProvider{}, log: log, ctx: ctx, cancel: cancel,
		sessions: map[string]*session{}}
	for _, p := range providers {
		r.providers[p.Name] = p
	}
	return r
}

// session is one provider's connection, opened once; ready closes when cs and tools, or err,
// are set.
type session struct {
	provider *config.MCPProvider
	ready    chan struct{}
	cs       *mcp.ClientSession
	tools    []*mcp.Tool
	err      error
}

// session returns the provider's session, opening it in the background the first time. The
// connection is the registry's, not the caller's: a group aborted while it connects does not
// leave the run with a failed session.
func (r *Registry) session(ctx context.Context, name string) (*session, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errClosed
	}
	s, ok := r.sessions[name]
	if !ok {
		p := r.providers[name]
		if p == nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("unknown MCP provider %q", name)
		}
		s = &session{provider: p, ready: make(chan struct{})}
		r.sessions[name] = s
		r.wg.Go(func() {
			defer close(s.ready)
			s.cs, s.tools, s.err = r.connect(p)
		})
	}
	r.mu.Unlock()
	select {
	case <-s.ready:
		return s, s.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// connect opens a session with p and lists its tools.
func (r *Registry) connect(p *config.MCPProvider) (*mcp.ClientSession, []*mcp.Tool, error) {
	// The session lives in the context it is opened with (an SSE stream ends with it), so
	// that is the registry's; a timer bounds the opening.
	ctx, cancel := context.WithCancelCause(r.ctx)
	timer := time.AfterFunc(ConnectTimeout, func() {
		cancel(fmt.Errorf("MCP provider %q: not connected after %s", p.Name, ConnectTimeout))
	})
	opened := false
	defer func() {
		if !opened {
			timer.Stop()
			cancel(nil)
		}
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "rowforge", Version: "1"}, nil)
	var t mcp.Transport
	switch p.Type {
	case config.MCPStdio:
		cmd := exec.Command(p.Command, p.Args...)
		cmd.Env = stdioEnv()
		cmd.WaitDelay = 5 * time.Second // a grandchild holding stderr open does not hold Close
		for _, k := range slices.Sorted(maps.Keys(p.Env)) {
			cmd.Env = append(cmd.Env, k+"="+p.Env[k])
		}
		cmd.Stderr = &logWriter{log: r.log.With("mcp_provider", p.Name)}
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	case config.MCPStreamableHTTP:
		t = &mcp.StreamableClientTransport{Endpoint: p.Endpoint, HTTPClient: httpClient(p), DisableStandaloneSSE: true}
	default:
		t = &mcp.SSEClientTransport{Endpoint: p.Endpoint, HTTPClient: httpClient(p)}
	}
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		return nil, nil, fmt.Errorf("MCP provider %q: connect: %w", p.Name, err)
	}
	var tools []*mcp.Tool
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			_ = cs.Close()
			return nil, nil, fmt.Errorf("MCP provider %q: list tools: %w", p.Name, err)
		}
		tools = append(tools, tool)
	}
	if !timer.Stop() { // the time ran out just now: the session's context is gone with it
		_ = cs.Close()
		return nil, nil, context.Cause(ctx)
	}
	opened = true
	r.log.Info("MCP provider connected", "mcp_provider", p.Name, "type", p.Type, "tools", len(tools))
	return cs, tools, nil
}

// stdioEnvVars are what a stdio server inherits from the worker, as the MCP Python SDK's
// default environment (Data Designer's): not the worker's model keys. The provider's env adds
// the rest.
var stdioEnvVars = []string{"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR"}

func stdioEnv() []string {
	var env []string
	for _, k := range stdioEnvVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// httpClient sends the provider's API key as a bearer token, as Data Designer does.
func httpClient(p *config.MCPProvider) *http.Client {
	key := p.APIKey
	if v, ok := os.LookupEnv(key); ok && key != "" {
		key = v
	}
	if key == "" {
		return nil
	}
	return &http.Client{Transport: bearer{key: key, next: http.DefaultTransport}}
}

type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(req)
}

const maxStderrLine = 4 << 10

// logWriter logs a stdio server's stderr, line by line.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := slices.Index(w.buf, '\n')
		if i < 0 && len(w.buf) < maxStderrLine {
			break
		}
		if i < 0 { // a line that never ends: log it in pieces
			w.log.Warn("MCP server stderr", "line", string(w.buf[:maxStderrLine]))
			w.buf = w.buf[maxStderrLine:]
			continue
		}
		w.log.Warn("MCP server stderr", "line", string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

var errClosed = errors.New("tools: registry closed")

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close ends every session (a stdio program gets its stdin closed, then SIGTERM) and waits
// for connections in progress to stop. A registry cannot be used after Close.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(r.sessions)) {
		if s := r.sessions[name]; s.cs != nil {
			// How a stdio server ended (killed, or an exit status on SIGTERM) is not news here:
			// the calls that needed it have said so.
			var exit *exec.ExitError
			if err := s.cs.Close(); err != nil && !errors.Is(err, mcp.ErrConnectionClosed) && !errors.As(err, &exit) {
				errs = append(errs, fmt.Errorf("MCP provider %q: close: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Toolset returns the tools of tc, resolved on first use.
func (r *Registry) Toolset(tc *config.ToolConfig) *Toolset {
	return &Toolset{reg: r, cfg: tc, lock: make(chan struct{}, 1)}
}

// Toolset is one tool config's tools. It is safe for concurrent use.
type Toolset struct {
	reg *Registry
	cfg *config.ToolConfig

	lock  chan struct{} // held while resolving: a channel, so that waiting honours ctx
	done  bool
	tools []llm.Tool
	owner map[string]*session // tool name → the session that has it
	err   error
}

// MaxTurns is how many turns of tool calls a conversation may have.
func (t *Toolset) MaxTurns() int { return t.cfg.MaxToolCallTurns }

// Tools returns the tools the model may call, connecting the providers the first time. The
// error is a *ConfigError unless ctx ended first.
func (t *Toolset) Tools(ctx context.Context) ([]llm.Tool, error) {
	select {
	case t.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-t.lock }()
	if t.done {
		return t.tools, t.err
	}
	owner := map[string]*session{}
	byName := map[string][]string{}
	var all []*mcp.Tool
	for _, name := range t.cfg.Providers {
		s, err := t.reg.session(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err // not the provider's fault: the next caller tries again
			}
			return t.fail(err)
		}
		for _, tool := range s.tools {
			byName[tool.Name] = append(byName[tool.Name], name)
			owner[tool.Name] = s
			all = append(all, tool)
		}
	}
	var dups []string
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		if ps := byName[n]; len(ps) > 1 {
			dups = append(dups, fmt.Sprintf("%q (on %s)", n, strings.Join(ps, ", ")))
		}
	}
	if len(dups) > 0 {
		return t.fail(fmt.Errorf("tool names on more than one provider: %s; each must be on one provider of the config", strings.Join(dups, "; ")))
	}
	var missing []string
	for _, n := range t.cfg.AllowTools {
		if owner[n] == nil {
			missing = append(missing, fmt.Sprintf("%q", n))
		}
	}
	if len(missing) > 0 {
		return t.fail(fmt.Errorf("allow_tools %s on none of the providers %s (they have %s)",
			strings.Join(missing, ", "), strings.Join(t.cfg.Providers, ", "), strings.Join(slices.Sorted(maps.Keys(owner)), ", ")))
	}
	for _, tool := range all {
		if t.cfg.AllowTools != nil && !slices.Contains(t.cfg.AllowTools, tool.Name) {
			continue
		}
		params, err := schemaOf(tool.InputSchema)
		if err != nil {
			return t.fail(fmt.Errorf("tool %q: input schema: %w", tool.Name, err))
		}
		t.tools = append(t.tools, llm.Tool{Name: tool.Name, Description: tool.Description, Parameters: params})
	}
	t.owner, t.done = owner, true
	return t.tools, nil
}

func (t *Toolset) fail(err error) ([]llm.Tool, error) {
	t.done, t.err = true, &ConfigError{Alias: t.cfg.Alias, Err: err}
	return nil, t.err
}

// schemaOf returns a tool's input schema as a JSON object.
func schemaOf(s any) (map[string]any, error) {
	if s == nil {
		return map[string]any{"type": "object", "properties": map[string]any{}}, nil
	}
	if m, ok := s.(map[string]any); ok {
		return m, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Call runs the call the model asked for and returns its result as text: the result's text
// blocks, one per line, and other blocks as JSON. A tool outside the config, arguments that are
// not a JSON object, a failed call and the config's timeout are errors.
func (t *Toolset) Call(ctx context.Context, call llm.ToolCall) (string, error) {
	if _, err := t.Tools(ctx); err != nil {
		return "", err
	}
	if t.reg.isClosed() {
		return "", errClosed
	}
	name := call.Function.Name
	s := t.owner[name]
	if s == nil || (t.cfg.AllowTools != nil && !slices.Contains(t.cfg.AllowTools, name)) {
		return "", fmt.Errorf("tool %q is not permitted for providers %s", name, strings.Join(t.cfg.Providers, ", "))
	}
	args := map[string]any{}
	if a := strings.TrimSpace(call.Function.Arguments); a != "" {
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			return "", fmt.Errorf("tool %q: arguments are not a JSON object: %s", name, call.Function.Arguments)
		}
	}
	timeout, why := DefaultCallTimeout, "the default; set timeout_sec"
	if t.cfg.TimeoutSec > 0 {
		timeout, why = time.Duration(t.cfg.TimeoutSec*float64(time.Second)), "timeout_sec"
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("tool %q: timed out after %gs (%s)", name, timeout.Seconds(), why))
	defer cancel()
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			return "", c
		}
		return "", fmt.Errorf("tool %q on MCP provider %q: %w", name, s.provider.Name, err)
	}
	return resultText(res)
}

// resultText flattens a tool result for the model, as Data Designer does for text.
func resultText(res *mcp.CallToolResult) (string, error) {
	lines := make([]string, 0, len(res.Content))
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			lines = append(lines, tc.Text)
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		lines = append(lines, string(b))
	}
	if len(lines) == 0 && res.StructuredContent != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return strings.Join(lines, "\n"), nil
}
