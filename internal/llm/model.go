package llm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/sjson"

	"github.com/rowforge/rowforge/pkg/config"
)

// Options tune how models are called; the zero value gives the defaults.
type Options struct {
	// Patience is how long a model may answer only errors before the run fails (default 5 min).
	Patience time.Duration
	// Backoff is the first pause between attempts (default 500 ms); it doubles, with full
	// jitter, up to MaxBackoff (default 30 s). A Retry-After the endpoint sends wins.
	Backoff, MaxBackoff time.Duration
	// HTTPClient, when set, replaces the default client (a transport that keeps as many idle
	// connections per endpoint as requests may be in flight).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Observer, when set, is told of every attempt: a process's metrics, kept out of this
	// package so that it does not depend on how they are exported.
	Observer Observer
}

// Observer watches a model's attempts. Model is the alias, as in Usage. It is called on the
// request path, from many goroutines: it must be safe for concurrent use and quick.
type Observer interface {
	// Request reports one attempt that ended, with the tokens the endpoint reported for it
	// (zero when it did not answer). An attempt cut off by the caller's cancellation is Failed.
	Request(model string, outcome Outcome, promptTokens, completionTokens int64)
	// InFlight reports an attempt sent (+1) and answered or abandoned (-1).
	InFlight(model string, delta int)
}

type noObserver struct{}

func (noObserver) Request(string, Outcome, int64, int64) {}
func (noObserver) InFlight(string, int)                  {}

func (o *Options) setDefaults() {
	if o.Patience <= 0 {
		o.Patience = 5 * time.Minute
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
}

// Request is one completion a cell asks for.
type Request struct {
	System string // "" for none
	Prompt string
	// Schema, when set, asks for a JSON reply following it (response_format json_schema), named
	// SchemaName.
	Schema     map[string]any
	SchemaName string
	// Tools are the functions the model may call (the OpenAI tools format); History is the
	// conversation after the prompt so far: the assistant's tool calls and the tools' results.
	Tools   []Tool
	History []Message
	// Images go with the prompt, before its text (multi_modal_context): http(s) URLs or data
	// URIs.
	Images []string
}

// Tool is a function the model may call: its name, what it does, and the JSON schema of its
// arguments.
type Tool struct {
	Name        string
	Description string
	Parameters  map[string]any
}

// ToolCall is a call the model asked for, as the OpenAI API and Data Designer's traces write
// it.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction is a called function and its arguments, as JSON text.
type ToolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Reply is a model's answer.
type Reply struct {
	Content string
	// Reasoning is the reply's reasoning_content (a reasoning model's thinking), "" for none.
	Reasoning string
	// Trace is the conversation: the request's messages, then the reply's.
	Trace []Message
	// ToolCalls are the calls the reply asks for; none when it is an answer.
	ToolCalls []ToolCall
	Usage     ModelUsage
}

// text is a message's text.
func (m Message) text() string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// Message is one message of a conversation, as Data Designer writes it in a trace column:
// content as a list of text blocks, reasoning_content only when there is some.
type Message struct {
	Role             string         `json:"role"`
	Content          []ContentBlock `json:"content"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall     `json:"tool_calls,omitempty"`
	ToolCallID       string         `json:"tool_call_id,omitempty"`
}

// ContentBlock is a ChatML content block.
type ContentBlock struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// MarshalJSON writes a text block with its text (even empty) and an image block with its
// image only, as ChatML has them.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	if b.ImageURL != nil {
		return json.Marshal(struct {
			Type     string    `json:"type"`
			ImageURL *ImageURL `json:"image_url"`
		}{b.Type, b.ImageURL})
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{b.Type, b.Text})
}

// ImageURL is an image block's image: an http(s) URL or a data URI.
type ImageURL struct {
	URL string `json:"url"`
}

// TextMessage is a message of one text block.
func TextMessage(role, text string) Message {
	return Message{Role: role, Content: []ContentBlock{{Type: "text", Text: text}}}
}

// Model is one model_configs entry on its endpoint, with its admission control. It is safe for
// concurrent use; all of a run's groups on a worker share it.
type Model struct {
	alias, name, endpoint string
	params                config.InferenceParams
	client                openai.Client
	extraBody             map[string]any // extra_body of the provider and the model, set in every request's body
	limiter               *Limiter
	capacity              int // max_parallel_requests
	opts                  Options

	warned atomic.Bool // the first failed attempt was logged at WARN; later ones go to DEBUG

	mu           sync.Mutex
	failingSince time.Time // zero while the last attempt succeeded
}

// NewModel returns the model m served by provider p, admitting at most ceiling requests at once.
func NewModel(m *config.Model, p *config.Provider, ceiling int, opts Options) *Model {
	opts.setDefaults()
	copts := []option.RequestOption{
		option.WithBaseURL(p.Endpoint),
		option.WithAPIKey(APIKey(p)),
		option.WithMaxRetries(0), // retries are ours: they must go through admission
		option.WithHTTPClient(opts.HTTPClient),
	}
	for _, k := range sortedKeys(p.ExtraHeaders) {
		copts = append(copts, option.WithHeader(k, p.ExtraHeaders[k]))
	}
	extra := maps.Clone(p.ExtraBody)
	if extra == nil {
		extra = map[string]any{}
	}
	maps.Copy(extra, m.Params.ExtraBody) // the model's own fields win
	return &Model{alias: m.Alias, name: m.Model, endpoint: p.Endpoint, params: m.Params, client: openai.NewClient(copts...),
		extraBody: extra, limiter: NewLimiter(ceiling), capacity: max(m.Params.MaxParallelRequests, 1), opts: opts}
}

// Alias is the model's alias in the config.
func (m *Model) Alias() string { return m.alias }

// Name is the model's name at its endpoint.
func (m *Model) Name() string { return m.name }

// Endpoint is the base URL of the model's provider.
func (m *Model) Endpoint() string { return m.endpoint }

// Capacity is the model's max_parallel_requests: the most requests in flight for the whole run.
func (m *Model) Capacity() int { return m.capacity }

// Limiter is the model's admission control.
func (m *Model) Limiter() *Limiter { return m.limiter }

// Complete asks the model for one reply. Transient failures (429, 5xx, 408, timeouts, broken
// connections) are retried — each attempt admitted again — until one succeeds, ctx ends, or the
// model has failed for longer than the patience (*UnavailableError). A reply that is not a chat
// completion is retried BadReplyAttempts times in all, then is a *BadReplyError. A refusal that
// no retry can fix is a *RequestError. Attempts and tokens are counted in ctx's Usage.
func (m *Model) Complete(ctx context.Context, req Request) (Reply, error) {
	params, user := m.chatParams(req)
	body, err := m.requestBody(params)
	if err != nil {
		return Reply{}, err
	}
	var reply Reply
	err = m.call(ctx, func(ctx context.Context) (func() (ModelUsage, error), error) {
		hres, raw, err := m.post(ctx, "chat/completions", body)
		if err != nil {
			return nil, err
		}
		return func() (ModelUsage, error) {
			var err error
			reply, err = m.readChat(hres, raw, req, user)
			return reply.Usage, err
		}, nil
	})
	if err != nil {
		return Reply{}, err
	}
	reply.Usage.Requests = 1
	return reply, nil
}

// Embed asks an embedding model for the embedding of text (the OpenAI embeddings API, with
// the model's encoding_format and dimensions), admitted and retried as Complete is.
func (m *Model) Embed(ctx context.Context, text string) ([]float32, error) {
	params := openai.EmbeddingNewParams{
		Model: openai.EmbeddingModel(m.name),
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{text}},
	}
	if m.params.Dimensions > 0 {
		params.Dimensions = openai.Int(int64(m.params.Dimensions))
	}
	if m.params.EncodingFormat != "" {
		params.EncodingFormat = openai.EmbeddingNewParamsEncodingFormat(m.params.EncodingFormat)
	}
	body, err := m.requestBody(params)
	if err != nil {
		return nil, err
	}
	var vec []float32
	err = m.call(ctx, func(ctx context.Context) (func() (ModelUsage, error), error) {
		hres, raw, err := m.post(ctx, "embeddings", body)
		if err != nil {
			return nil, err
		}
		return func() (ModelUsage, error) {
			var usage ModelUsage
			var err error
			vec, usage, err = m.readEmbedding(hres, raw)
			return usage, err
		}, nil
	})
	return vec, err
}

// exchange sends one request; the read it returns turns the reply into the caller's result.
type exchange func(context.Context) (read func() (ModelUsage, error), err error)

// call runs attempt until it succeeds: each attempt admitted by the limiter and counted in
// ctx's Usage; transient failures retried with backoff until ctx ends or the model has failed
// for longer than the patience (*UnavailableError), bad replies BadReplyAttempts times in all.
// The model's first failed attempt is logged at WARN, so that a misbehaving endpoint shows at
// the default level at once; later ones at DEBUG.
//
// A seat covers the HTTP exchange only: the request body is built before it is taken (by the
// caller) and the reply is read after it is given back, so that the endpoint's seats wait on
// the endpoint, not on this process's CPU. The limiter counts an exchange the endpoint answered
// as a success (its rate signal is a 429); the observer is told the attempt's whole outcome.
func (m *Model) call(ctx context.Context, attempt exchange) error {
	usage := valueOf[*Usage](ctx)
	badReplies := 0
	for n := 0; ; n++ {
		release, err := m.limiter.Acquire(ctx)
		if err != nil {
			return err
		}
		m.opts.Observer.InFlight(m.alias, 1)
		read, err := attempt(ctx)
		m.opts.Observer.InFlight(m.alias, -1)
		var u ModelUsage
		if err == nil {
			release(Succeeded) // settle's release below is then a no-op
			u, err = read()
		}
		usage.add(m.alias, ModelUsage{Requests: 1, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens})
		settle := func(o Outcome) { // the observer sees the attempt's outcome; the limiter too, unless the exchange gave the seat back
			release(o)
			m.opts.Observer.Request(m.alias, o, u.PromptTokens, u.CompletionTokens)
		}
		if err == nil {
			settle(Succeeded)
			m.succeeded()
			return nil
		}
		usage.add(m.alias, ModelUsage{Failed: 1})
		if ctx.Err() != nil { // the caller's cancellation, not the endpoint's failure
			settle(Failed)
			return context.Cause(ctx)
		}
		var tr *transientError
		var bad *BadReplyError
		var retryAfter time.Duration
		switch {
		case errors.As(err, &bad):
			settle(Failed)
			if badReplies++; badReplies >= BadReplyAttempts {
				m.logFailure(n, 0, err)
				return err
			}
		case !errors.As(err, &tr):
			settle(Failed)
			m.succeeded() // the endpoint answered: it is up, the request was wrong
			m.logFailure(n, 0, err)
			return err
		case tr.status == http.StatusTooManyRequests:
			settle(RateLimited)
			retryAfter = tr.retryAfter
		default:
			settle(Failed)
			retryAfter = tr.retryAfter
		}
		if bad == nil {
			if failing := m.failed(); failing > m.opts.Patience {
				err = &UnavailableError{Model: m.alias, Endpoint: m.endpoint, For: failing, Last: err}
				m.logFailure(n, 0, err)
				return err
			}
		}
		wait := m.backoff(n, retryAfter)
		m.logFailure(n, wait, err)
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait):
		}
	}
}

// readEmbedding reads an embeddings reply.
func (m *Model) readEmbedding(hres *http.Response, raw []byte) ([]float32, ModelUsage, error) {
	var resp openai.CreateEmbeddingResponse
	if err := m.decodeReply(hres, raw, &resp, "an embeddings reply"); err != nil {
		return nil, ModelUsage{}, err
	}
	usage := ModelUsage{PromptTokens: resp.Usage.PromptTokens}
	if len(resp.Data) != 1 {
		return nil, usage, m.badReply(hres, raw, fmt.Errorf("not an embeddings reply: %d embeddings for 1 input", len(resp.Data)))
	}
	d := resp.Data[0]
	if enc := d.JSON.Embedding.Raw(); strings.HasPrefix(enc, `"`) { // encoding_format base64
		vec, err := decodeBase64Vector(enc)
		if err != nil {
			return nil, usage, m.badReply(hres, raw, err)
		}
		return vec, usage, nil
	}
	vec := make([]float32, len(d.Embedding))
	for i, x := range d.Embedding {
		vec[i] = float32(x)
	}
	return vec, usage, nil
}

// decodeBase64Vector reads an embedding sent as base64: little-endian float32s, as OpenAI's
// API sends them with encoding_format base64.
func decodeBase64Vector(raw string) ([]float32, error) {
	var text string
	if err := json.Unmarshal([]byte(raw), &text); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b)%4 != 0 {
		return nil, fmt.Errorf("the embedding is not base64 float32s: %w", errors.Join(err, errors.New("bad length")))
	}
	vec := make([]float32, len(b)/4)
	for i := range vec {
		vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return vec, nil
}

// logFailure logs failed attempt n (from 0), retried after wait (0: not retried): the model's
// first failure at WARN, the others at DEBUG.
func (m *Model) logFailure(n int, wait time.Duration, err error) {
	level, msg := slog.LevelDebug, "model request failed"
	if m.warned.CompareAndSwap(false, true) {
		level, msg = slog.LevelWarn, "model request failed (the model's further failures are logged at debug level)"
	}
	attrs := []any{"model", m.alias, "endpoint", m.endpoint, "attempt", n + 1, "err", err}
	if wait > 0 {
		attrs = append(attrs, "retry_in", wait)
	}
	m.opts.Logger.Log(context.Background(), level, msg, attrs...)
}

func (m *Model) succeeded() {
	m.mu.Lock()
	m.failingSince = time.Time{}
	m.mu.Unlock()
}

// failed records a transient failure and returns for how long the model has been failing.
func (m *Model) failed() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.failingSince.IsZero() {
		m.failingSince = now
	}
	return now.Sub(m.failingSince)
}

// backoff is the pause before attempt+1: exponential with full jitter, or the endpoint's
// Retry-After when it asked for longer.
func (m *Model) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceil := m.opts.Backoff << min(attempt, 16)
	if ceil <= 0 || ceil > m.opts.MaxBackoff {
		ceil = m.opts.MaxBackoff
	}
	return max(time.Duration(rand.Int64N(int64(ceil))+1), retryAfter)
}

// withTimeout bounds one request by the model's timeout, when it has one.
func (m *Model) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.params.Timeout > 0 {
		return context.WithTimeout(ctx, m.params.Timeout)
	}
	return ctx, func() {}
}

// requestBody is params as the endpoint receives them, the extra_body fields set in (each
// key a path, as the SDK's option.WithJSONSet takes it). It is built once per call: a retry
// sends the same request.
func (m *Model) requestBody(params json.Marshaler) ([]byte, error) {
	body, err := params.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("model %q: building the request: %w", m.alias, err)
	}
	for _, k := range sortedKeys(m.extraBody) {
		if body, err = sjson.SetBytes(body, k, m.extraBody[k]); err != nil {
			return nil, fmt.Errorf("model %q: extra_body field %q: %w", m.alias, k, err)
		}
	}
	return body, nil
}

// post sends body to the endpoint's path and returns the reply's raw body, bounded by the
// model's timeout. An HTTP error status comes back as the SDK's error, classified.
func (m *Model) post(ctx context.Context, path string, body []byte) (*http.Response, []byte, error) {
	pctx, cancel := m.withTimeout(ctx)
	defer cancel()
	var raw []byte
	var hres *http.Response
	err := m.client.Post(pctx, path, nil, &raw, option.WithRequestBody("application/json", body), option.WithResponseInto(&hres))
	if err != nil {
		return nil, nil, m.classify(ctx, err)
	}
	return hres, raw, nil
}

// readChat reads a chat completion into req's Reply.
func (m *Model) readChat(hres *http.Response, raw []byte, req Request, user Message) (Reply, error) {
	var resp chatCompletion
	if err := m.decodeReply(hres, raw, &resp, "a chat completion"); err != nil {
		return Reply{}, err
	}
	usage := ModelUsage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
	if len(resp.Choices) == 0 {
		return Reply{Usage: usage}, m.badReply(hres, raw, errors.New("not a chat completion: it has no choices"))
	}
	return chatReply(req, user, resp.Choices[0].Message, usage), nil
}

// chatCompletion is what rowforge reads of a chat completion. It is decoded with encoding/json
// rather than into the SDK's type, whose reflective decoder of every field cost a worker about
// a sixth of its CPU at thousands of replies a second. A field of the wrong type makes the
// reply a bad one (the SDK's type would have left it empty).
type chatCompletion struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

type chatMessage struct {
	Content string `json:"content"`
	// ReasoningContent is the field reasoning models served by vLLM, NIM and others add to the
	// OpenAI message (Data Designer reads the same field); raw, so that a server that fills it
	// with something other than text is not refused for it.
	ReasoningContent json.RawMessage `json:"reasoning_content"`
	ToolCalls        []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// chatParams builds the API request for req. It also returns the user message as the trace
// records it, which only the request's building knows in full (its images).
func (m *Model) chatParams(req Request) (openai.ChatCompletionNewParams, Message) {
	params := openai.ChatCompletionNewParams{Model: m.name}
	if req.System != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(req.System))
	}
	userParam, user := userMessage(req)
	params.Messages = append(params.Messages, userParam)
	for _, h := range req.History {
		params.Messages = append(params.Messages, messageParam(h))
	}
	for _, t := range req.Tools {
		fn := shared.FunctionDefinitionParam{Name: t.Name, Parameters: shared.FunctionParameters(t.Parameters)}
		if t.Description != "" {
			fn.Description = openai.String(t.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(fn))
	}
	if d := m.params.Temperature; d != nil {
		params.Temperature = openai.Float(draw(d))
	}
	if d := m.params.TopP; d != nil {
		params.TopP = openai.Float(draw(d))
	}
	if m.params.MaxTokens > 0 {
		params.MaxTokens = openai.Int(int64(m.params.MaxTokens))
	}
	if req.Schema != nil {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name: req.SchemaName, Schema: req.Schema,
			}},
		}
	}
	return params, user
}

// userMessage returns the prompt for the API and for the trace, built side by side so that
// the trace shows the images in the order the model was sent them: before the text.
func userMessage(req Request) (openai.ChatCompletionMessageParamUnion, Message) {
	user := TextMessage("user", req.Prompt)
	if len(req.Images) == 0 {
		return openai.UserMessage(req.Prompt), user
	}
	parts := make([]openai.ChatCompletionContentPartUnionParam, 0, len(req.Images)+1)
	user.Content = user.Content[:0]
	for _, u := range req.Images {
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: u}))
		user.Content = append(user.Content, ContentBlock{Type: "image_url", ImageURL: &ImageURL{URL: u}})
	}
	parts = append(parts, openai.TextContentPart(req.Prompt))
	user.Content = append(user.Content, ContentBlock{Type: "text", Text: req.Prompt})
	return openai.UserMessage(parts), user
}

// chatReply reads the model's answer into a Reply whose Trace is the whole conversation, as
// Data Designer's trace column holds it. Calls of a type other than function are left out:
// only functions are ever offered (Request.Tools), so nothing could answer them.
func chatReply(req Request, user Message, msg chatMessage, usage ModelUsage) Reply {
	reply := Reply{Content: msg.Content, Reasoning: reasoningOf(msg), Usage: usage}
	for _, tc := range msg.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		reply.ToolCalls = append(reply.ToolCalls, ToolCall{ID: tc.ID, Type: "function",
			Function: ToolFunction{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	if req.System != "" {
		reply.Trace = append(reply.Trace, TextMessage("system", req.System))
	}
	answer := TextMessage("assistant", msg.Content)
	answer.ReasoningContent, answer.ToolCalls = reply.Reasoning, reply.ToolCalls
	reply.Trace = append(reply.Trace, user)
	reply.Trace = append(reply.Trace, req.History...)
	reply.Trace = append(reply.Trace, answer)
	return reply
}

// decodeReply reads a successful reply's body into dst (an API response type). The body is
// read as JSON whatever its Content-Type says: servers that send JSON as text/plain are common,
// and the SDK, left to decode, would refuse them (its requestconfig.Execute decodes only
// application/json and +json media types into structs); so the SDK hands over the raw body
// (option.WithResponseBodyInto with a *[]byte) and it is decoded here. A body that is not JSON
// is a *BadReplyError.
func (m *Model) decodeReply(res *http.Response, body []byte, dst any, want string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return m.badReply(res, body, fmt.Errorf("not %s: the body is empty", want))
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return m.badReply(res, body, fmt.Errorf("not %s: %w", want, err))
	}
	return nil
}

// badReply describes a reply res with body that is not what was asked for.
func (m *Model) badReply(res *http.Response, body []byte, err error) *BadReplyError {
	e := &BadReplyError{Model: m.alias, Name: m.name, Endpoint: m.endpoint, Snippet: snippet(body), Err: err}
	if res != nil {
		e.Status, e.ContentType = res.StatusCode, res.Header.Get("Content-Type")
	}
	return e
}

// messageParam converts a message of the conversation to the API's form.
func messageParam(m Message) openai.ChatCompletionMessageParamUnion {
	switch m.Role {
	case "tool":
		return openai.ToolMessage(m.text(), m.ToolCallID)
	case "assistant":
		a := openai.ChatCompletionAssistantMessageParam{}
		if t := m.text(); t != "" {
			a.Content.OfString = openai.String(t)
		}
		for _, tc := range m.ToolCalls {
			a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: tc.ID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Function.Name, Arguments: tc.Function.Arguments}},
			})
		}
		return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
	case "system":
		return openai.SystemMessage(m.text())
	}
	return openai.UserMessage(m.text())
}

// reasoningOf reads a reply's reasoning_content: empty when it is absent, null or not text.
func reasoningOf(msg chatMessage) string {
	var s string
	if len(msg.ReasoningContent) == 0 || json.Unmarshal(msg.ReasoningContent, &s) != nil {
		return ""
	}
	return s
}

// classify sorts a failed attempt into transient (worth retrying) or final.
func (m *Model) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err // the caller's cancellation, not the endpoint's failure
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		status := apiErr.StatusCode
		if status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 {
			te := &transientError{status: status, err: errors.New(apiMessage(apiErr))}
			if apiErr.Response != nil {
				te.retryAfter = retryAfter(apiErr.Response.Header)
			}
			return te
		}
		return &RequestError{Model: m.alias, Endpoint: m.endpoint, Status: status, Err: errors.New(apiMessage(apiErr))}
	}
	if t := m.params.Timeout; t > 0 && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no reply within the model's timeout of %s: %w", t, err)
	}
	// Timeouts, refused or reset connections, bodies cut off while read: the endpoint or the
	// path to it is unwell, which is what retrying and the patience are for. (A reply read
	// whole that is not what was asked for is a *BadReplyError, from decodeReply.)
	return &transientError{err: err}
}

// apiMessage is what an error reply says: its OpenAI-style message, else its JSON, else the
// start of its body (an HTML error page of a proxy, say).
func apiMessage(e *openai.Error) string {
	if e.Message != "" {
		return e.Message
	}
	if raw := strings.TrimSpace(e.RawJSON()); raw != "" {
		return raw
	}
	if e.Response == nil || e.Response.Body == nil { // the SDK puts the body it read back
		return "(no message)"
	}
	body, _ := io.ReadAll(io.LimitReader(e.Response.Body, 4*SnippetBytes))
	if s := snippet(body); s != "" {
		return fmt.Sprintf("the reply is not an API error (Content-Type %q): %q", e.Response.Header.Get("Content-Type"), s)
	}
	return "(empty body)"
}

// retryAfter reads how long the endpoint asked to wait: retry-after-ms (OpenAI's, finer), else
// Retry-After in seconds or as an HTTP date.
func retryAfter(hdr http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(hdr.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	h := hdr.Get("Retry-After")
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Pool holds a run's models by alias.
type Pool struct {
	models map[string]*Model
}

// NewPool builds cfg's models on their providers. share gives this process's part of a
// model's max_parallel_requests (the whole of it when nil). A model whose provider is unknown
// is an error naming both.
func NewPool(cfg *config.Config, providers map[string]*config.Provider, share func(cap int) int, opts Options) (*Pool, error) {
	p := &Pool{models: map[string]*Model{}}
	for _, mc := range cfg.Models {
		prov := providers[mc.Provider]
		if prov == nil {
			known := make([]string, 0, len(providers))
			for name := range providers {
				known = append(known, name)
			}
			slices.Sort(known)
			return nil, &config.Error{Field: fmt.Sprintf("model_configs[%s].provider", mc.Alias),
				Msg: fmt.Sprintf("unknown provider %q (known: %s; define it under model_providers or in --providers)", mc.Provider, strings.Join(known, ", "))}
		}
		capacity := max(mc.Params.MaxParallelRequests, 1)
		ceiling := capacity
		if share != nil {
			ceiling = share(capacity)
		}
		p.models[mc.Alias] = NewModel(mc, prov, ceiling, opts)
	}
	return p, nil
}

// Model returns the model with alias, or nil.
func (p *Pool) Model(alias string) *Model { return p.models[alias] }

// Models returns the pool's models, ordered by alias.
func (p *Pool) Models() []*Model {
	out := make([]*Model, 0, len(p.models))
	for _, m := range p.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Model) int { return strings.Compare(a.alias, b.alias) })
	return out
}

// draw returns a value of d for one request: Data Designer draws temperature and top_p per
// request when they are distributions.
func draw(d *config.Distribution) float64 {
	switch {
	case d.Fixed != nil:
		return *d.Fixed
	case d.Uniform != nil:
		return d.Uniform[0] + rand.Float64()*(d.Uniform[1]-d.Uniform[0])
	case len(d.Values) > 0:
		if len(d.Weights) != len(d.Values) {
			return d.Values[rand.IntN(len(d.Values))]
		}
		x := rand.Float64()
		for i, w := range d.Weights {
			if x < w {
				return d.Values[i]
			}
			x -= w
		}
		return d.Values[len(d.Values)-1]
	}
	return 0
}
