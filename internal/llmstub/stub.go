package llmstub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configures a [Stub]. The zero value answers immediately and never fails.
type Options struct {
	// Latency is a fixed delay before each reply (faults included).
	Latency time.Duration
	// Jitter adds a uniformly random delay in [0, Jitter) to Latency.
	Jitter time.Duration
	// Gate, when non-nil, holds every request after its delays until a value can be received
	// from it: closing it releases all requests, each send releases one. It lets a test keep a
	// known number of requests in flight without relying on timing.
	Gate <-chan struct{}
	// Reply, when set, produces the assistant's content for a request that is not failed by a
	// fault. It is called concurrently and after the request's delays.
	Reply func(req *ChatRequest) string
	// Reasoning, when set, produces the reply's reasoning_content (what reasoning models served
	// by vLLM or NIM add to the message); "" leaves the field out.
	Reasoning func(req *ChatRequest) string
	// ToolCalls, when set, may answer a request with calls of its tools instead of content
	// (finish_reason "tool_calls"); returning none answers normally. IDs left empty are filled.
	ToolCalls func(req *ChatRequest) []ToolCall
	// Faults decides, per request, whether and how to fail it; nil never fails. n is the
	// 1-based request number in arrival order. It is called concurrently, when the request
	// arrives (before its delays).
	Faults func(n int64, req *ChatRequest) Fault
	// Forget keeps no copy of the requests: Requests returns none. A benchmark sends tens of
	// thousands, and their copies would cost memory and CPU on the machine it measures.
	Forget bool
}

// Fault describes how to misbehave on one request. The zero Fault is a normal reply.
type Fault struct {
	// Status, when not 0 or 200, answers with this HTTP status and an OpenAI-style error body
	// {"error": {"message", "type", "param", "code"}}.
	Status int
	// RetryAfter, when > 0, sets the Retry-After header (seconds, rounded up) and the
	// retry-after-ms header (milliseconds, rounded up; openai-go prefers it) on the response.
	RetryAfter time.Duration
	// Malformed answers 200 with a body that is not valid JSON (a truncated completion).
	// Malformed, HTML, Empty and NoChoices apply to embeddings requests too.
	Malformed bool
	// HTML answers 200 with an HTML page (what a proxy or a web UI in front of the endpoint
	// sends), as text/html; with a Status, the page is the error's body.
	HTML bool
	// Empty answers 200 with no body.
	Empty bool
	// NoChoices answers 200 with a JSON object that is not a chat completion: it has no
	// choices.
	NoChoices bool
	// ContentType, when set, replaces the response's Content-Type, whatever its body: with a
	// normal reply, a chat completion sent as, say, text/plain (which counts as Completed).
	ContentType string
	// InvalidStructured answers 200 with a well-formed completion whose content is "not json",
	// which matches no json_schema response format.
	InvalidStructured bool
	// Delay is waited, in addition to Options.Latency and Jitter, before answering.
	Delay time.Duration
}

// FaultEvery fails every k-th request (n = k, 2k, ...) with f; k <= 0 never fails.
func FaultEvery(k int64, f Fault) func(int64, *ChatRequest) Fault {
	return func(n int64, _ *ChatRequest) Fault {
		if k > 0 && n%k == 0 {
			return f
		}
		return Fault{}
	}
}

// FaultFirst fails requests 1..n with f.
func FaultFirst(n int64, f Fault) func(int64, *ChatRequest) Fault {
	return func(i int64, _ *ChatRequest) Fault {
		if i <= n {
			return f
		}
		return Fault{}
	}
}

// Stats counts what a [Stub] has seen. A handled request ends in exactly one of Completed,
// Failed or Cancelled, so Requests == Completed + Failed + Cancelled + InFlight.
type Stats struct {
	// Requests is the number of chat-completion requests accepted for handling.
	Requests int64 `json:"requests"`
	// Completed counts normal replies (a Fault with only a Delay is a normal reply).
	Completed int64 `json:"completed"`
	// Failed counts requests answered with an injected fault (HTTP error, a body that is not a
	// chat completion, or invalid structured content; a ContentType alone is no failure).
	Failed int64 `json:"failed"`
	// Cancelled counts requests abandoned before their reply: the client disconnected (the
	// request context was done) or the stub was closed while the request waited.
	Cancelled int64 `json:"cancelled"`
	// Rejected counts requests that were never handled: wrong path (404) or method (405), a
	// body that is not a chat request (400), or arriving after Close (503).
	Rejected int64 `json:"rejected"`
	// InFlight is the number of requests being handled now; PeakInFlight the most ever.
	InFlight     int64 `json:"in_flight"`
	PeakInFlight int64 `json:"peak_in_flight"`
	// PromptTokens and CompletionTokens sum the usage reported in replies.
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// Sample is the in-flight count right after a change.
type Sample struct {
	At       time.Time
	InFlight int64
}

// Stub is an [http.Handler] that serves POST {any prefix}/chat/completions like the OpenAI API.
// Create it with [New]; it is safe for concurrent use.
//
// A request is in flight from the moment its body has been parsed until its outcome is
// decided, which is just before its response is written: once a client has read a response,
// Stats already account for it.
type Stub struct {
	opts      Options
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	stats    Stats
	samples  []Sample
	requests []*ChatRequest
	changed  chan struct{} // closed and replaced on every change of stats
}

// New returns a Stub configured by opts.
func New(opts Options) *Stub {
	return &Stub{opts: opts, closed: make(chan struct{}), changed: make(chan struct{})}
}

// Close makes the stub give up: requests waiting on delays or the gate end as Cancelled with a
// 503, and later requests are rejected with a 503. It is idempotent. [Stub.Start] and
// [Server.Close] call it.
func (s *Stub) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Stats returns a snapshot of the counters.
func (s *Stub) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Concurrency returns the in-flight count after every change (each request start and end), in
// order.
func (s *Stub) Concurrency() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// Requests returns copies of every handled request, in arrival order (Requests()[n-1] is the
// request numbered n for Options.Faults).
func (s *Stub) Requests() []*ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ChatRequest, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// Wait blocks until cond holds for the current Stats, re-checking after every change, or until
// ctx is done (then it returns ctx.Err()). cond runs without any lock held.
func (s *Stub) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st, changed := s.stats, s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// WaitInFlight waits until exactly n requests are in flight.
func (s *Stub) WaitInFlight(ctx context.Context, n int64) error {
	return s.Wait(ctx, func(st Stats) bool { return st.InFlight == n })
}

// WaitCancelled waits until at least n requests have been cancelled.
func (s *Stub) WaitCancelled(ctx context.Context, n int64) error {
	return s.Wait(ctx, func(st Stats) bool { return st.Cancelled >= n })
}

const maxBodyBytes = 32 << 20

// ServeHTTP implements [http.Handler].
func (s *Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/embeddings") && r.Method == http.MethodPost {
		s.serveEmbeddings(w, r)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		s.reject(w, http.StatusNotFound, fmt.Sprintf("llmstub: no route for %s", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, http.StatusMethodNotAllowed, fmt.Sprintf("llmstub: method %s not allowed", r.Method))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.reject(w, http.StatusBadRequest, "llmstub: reading request body: "+err.Error())
		return
	}
	var req ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.reject(w, http.StatusBadRequest, "llmstub: request body is not a chat request: "+err.Error())
		return
	}
	req.Header = r.Header // valid while the request is handled; the record keeps its own copy
	if len(req.Messages) == 0 {
		s.reject(w, http.StatusBadRequest, "llmstub: messages must be a non-empty array")
		return
	}
	if stream, _ := req.Extra["stream"].(bool); stream {
		s.reject(w, http.StatusBadRequest, "llmstub: streaming is not supported")
		return
	}
	select {
	case <-s.closed:
		s.reject(w, http.StatusServiceUnavailable, "llmstub: stub is closed")
		return
	default:
	}
	s.handle(w, r, &req)
}

type outcome int

const (
	completed outcome = iota
	failed
	cancelled
)

var errClosed = errors.New("llmstub: stub closed")

func (s *Stub) handle(w http.ResponseWriter, r *http.Request, req *ChatRequest) {
	n := s.begin(req)
	ended := false
	defer func() {
		if !ended { // a callback panicked; net/http recovers, keep the counters exact
			s.end(failed, 0, 0)
		}
	}()

	var fault Fault
	if s.opts.Faults != nil {
		fault = s.opts.Faults(n, req)
	}
	if err := s.wait(r.Context(), fault.Delay); err != nil {
		s.end(cancelled, 0, 0)
		ended = true
		if errors.Is(err, errClosed) {
			writeError(w, http.StatusServiceUnavailable, "llmstub: stub closed before the reply")
		}
		return
	}

	a := s.decide(fault, n, req)
	s.end(a.result, a.promptTok, a.completeTok)
	ended = true
	a.write(w, fault)
}

// answer is a request's reply, decided in full before anything is written so that the
// counters are final by the time the client has the reply.
type answer struct {
	status      int
	contentType string
	body        []byte
	result      outcome
	promptTok   int64
	completeTok int64
}

// decide picks the reply to request n: the fault's when it breaks the reply, else a chat
// completion, so that a fault never costs a Reply callback.
func (s *Stub) decide(fault Fault, n int64, req *ChatRequest) answer {
	a := answer{status: http.StatusOK, contentType: "application/json", result: completed}
	switch {
	case fault.Status != 0 && fault.Status != http.StatusOK:
		a.status = fault.Status
		if a.status < 100 || a.status > 999 {
			a.status = http.StatusInternalServerError
		}
		a.body = errorBody(a.status, fmt.Sprintf("llmstub: injected fault (HTTP %d) for request %d", a.status, n))
		if fault.HTML {
			a.contentType, a.body = badBody(fault, n, req.Model)
		}
		a.result = failed
	case fault.Malformed, fault.HTML, fault.Empty, fault.NoChoices:
		a.contentType, a.body = badBody(fault, n, req.Model)
		a.result = failed
	default:
		s.completion(&a, fault, n, req)
	}
	return a
}

// completion fills a with a chat completion. Tokens are estimated, not counted: the stub has
// no tokenizer. An InvalidStructured fault gets no tool calls, since its content is the fault.
func (s *Stub) completion(a *answer, fault Fault, n int64, req *ChatRequest) {
	var content string
	switch {
	case fault.InvalidStructured:
		content = "not json"
		a.result = failed
	case s.opts.Reply != nil:
		content = s.opts.Reply(req)
	default:
		content = DefaultReply(req)
	}
	for _, m := range req.Messages {
		a.promptTok += estimateTokens(m.Content)
	}
	a.completeTok = estimateTokens(content)
	msg := replyMessage{Role: "assistant", Content: content}
	if s.opts.Reasoning != nil {
		msg.ReasoningContent = s.opts.Reasoning(req)
	}
	finish := "stop"
	if s.opts.ToolCalls != nil && a.result != failed {
		if calls := s.opts.ToolCalls(req); len(calls) > 0 {
			for i := range calls {
				if calls[i].ID == "" {
					calls[i].ID = fmt.Sprintf("call_%d_%d", n, i)
				}
				calls[i].Type = "function"
			}
			msg.Content, msg.ToolCalls, finish = "", calls, "tool_calls"
		}
	}
	a.body = completionBody(n, req.Model, msg, finish, a.promptTok, a.completeTok)
}

// write sends a with the fault's headers. Retry-After is rounded up, in both units, so that a
// client honouring it never comes back early.
func (a answer) write(w http.ResponseWriter, fault Fault) {
	h := w.Header()
	if fault.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((fault.RetryAfter+time.Second-1)/time.Second), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(int64((fault.RetryAfter+time.Millisecond-1)/time.Millisecond), 10))
	}
	contentType := a.contentType
	if fault.ContentType != "" {
		contentType = fault.ContentType
	}
	h.Set("Content-Type", contentType)
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// htmlPage is what a web server's welcome page or a proxy's error page looks like.
const htmlPage = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n<body><h1>It works!</h1></body></html>\n"

// badBody is the reply of a fault whose body is not a chat completion (Malformed, HTML, Empty
// or NoChoices), with its Content-Type.
func badBody(fault Fault, n int64, model string) (contentType string, body []byte) {
	switch {
	case fault.HTML:
		return "text/html; charset=utf-8", []byte(htmlPage)
	case fault.Empty:
		return "application/json", nil
	case fault.NoChoices:
		return "application/json", fmt.Appendf(nil, `{"id":"chatcmpl-stub-%d","object":"chat.completion","model":%q,"status":"queued"}`, n, model)
	}
	return "application/json", fmt.Appendf(nil, `{"id":"chatcmpl-stub-%d","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`, n)
}

// wait sleeps Latency + Jitter + extra, then waits on the gate. It returns ctx.Err() when the
// client goes away first, errClosed when the stub is closed first.
func (s *Stub) wait(ctx context.Context, extra time.Duration) error {
	d := max(s.opts.Latency, 0) + max(extra, 0)
	if s.opts.Jitter > 0 {
		d += rand.N(s.opts.Jitter)
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return errClosed
		}
	}
	if s.opts.Gate != nil {
		select {
		case <-s.opts.Gate:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return errClosed
		}
	}
	return ctx.Err()
}

func (s *Stub) begin(req *ChatRequest) int64 {
	var rec *ChatRequest
	if !s.opts.Forget {
		rec = req.clone()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	if rec != nil {
		s.requests = append(s.requests, rec)
	}
	s.stats.InFlight++
	s.stats.PeakInFlight = max(s.stats.PeakInFlight, s.stats.InFlight)
	s.sampleAndNotify()
	return s.stats.Requests
}

func (s *Stub) end(o outcome, promptTok, completeTok int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch o {
	case completed:
		s.stats.Completed++
	case failed:
		s.stats.Failed++
	case cancelled:
		s.stats.Cancelled++
	}
	s.stats.PromptTokens += promptTok
	s.stats.CompletionTokens += completeTok
	s.stats.InFlight--
	s.sampleAndNotify()
}

// sampleAndNotify records the in-flight count and wakes waiters; s.mu must be held.
func (s *Stub) sampleAndNotify() {
	s.samples = append(s.samples, Sample{At: time.Now(), InFlight: s.stats.InFlight})
	s.notify()
}

// notify wakes Wait callers; s.mu must be held.
func (s *Stub) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Stub) reject(w http.ResponseWriter, status int, msg string) {
	s.mu.Lock()
	s.stats.Rejected++
	s.notify()
	s.mu.Unlock()
	writeError(w, status, msg)
}

// DefaultReply is the content the stub answers with when Options.Reply is nil: for a
// json_schema response format, [GenerateInstance] of the schema as JSON; for json_object,
// {"reply": <the text reply>}; otherwise "Reply to: " and the first 60 characters of the last
// user message.
func DefaultReply(req *ChatRequest) string {
	text := "Reply to: " + truncateRunes(req.lastUserMessage(), 60)
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_schema":
			var schema map[string]any
			if rf.JSONSchema != nil {
				schema = rf.JSONSchema.Schema
			}
			if b, err := json.Marshal(GenerateInstance(schema)); err == nil {
				return string(b)
			}
		case "json_object":
			b, _ := json.Marshal(map[string]string{"reply": text})
			return string(b)
		}
	}
	return text
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// estimateTokens is a deterministic token estimate: a quarter of the characters, at least 1.
func estimateTokens(s string) int64 {
	return max(1, int64(utf8.RuneCountInString(s)+3)/4)
}

type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   usage    `json:"usage"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      replyMessage `json:"message"`
	Logprobs     any          `json:"logprobs"`
	FinishReason string       `json:"finish_reason"`
}

type replyMessage struct {
	Role             string     `json:"role"`
	Content          string     `json:"content"`
	Refusal          *string    `json:"refusal"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

func completionBody(n int64, model string, msg replyMessage, finish string, promptTok, completeTok int64) []byte {
	b, err := json.Marshal(completion{
		ID:      fmt.Sprintf("chatcmpl-stub-%d", n),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   model,
		Choices: []choice{{
			Message:      msg,
			FinishReason: finish,
		}},
		Usage: usage{PromptTokens: promptTok, CompletionTokens: completeTok, TotalTokens: promptTok + completeTok},
	})
	if err != nil { // cannot happen: only strings and integers
		panic(err)
	}
	return b
}

// errorBody is an OpenAI-style error: {"error": {"message", "type", "param", "code"}}.
func errorBody(status int, msg string) []byte {
	typ, code := "server_error", any(nil)
	switch {
	case status == http.StatusUnauthorized:
		typ, code = "authentication_error", "invalid_api_key"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusNotFound:
		typ, code = "invalid_request_error", "not_found"
	case status == http.StatusTooManyRequests:
		typ, code = "rate_limit_error", "rate_limit_exceeded"
	case status >= 400 && status < 500:
		typ = "invalid_request_error"
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}})
	return b
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(status, msg))
}
