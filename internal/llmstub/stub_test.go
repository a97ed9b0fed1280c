package llmstub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/llmstub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx bounds every wait in a test so that a bug fails the test instead of hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(ctx context.Context, method, url, body string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

func post(t *testing.T, baseURL, body string) response {
	t.Helper()
	res, err := do(testCtx(t), http.MethodPost, baseURL+"/chat/completions", body)
	require.NoError(t, err)
	return res
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	} `json:"usage"`
}

func decodeCompletion(t *testing.T, res response) completion {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	var c completion
	require.NoError(t, json.Unmarshal(res.body, &c), "body: %s", res.body)
	require.Len(t, c.Choices, 1)
	return c
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	} `json:"error"`
}

func decodeError(t *testing.T, res response, status int) apiError {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	var e apiError
	require.NoError(t, json.Unmarshal(res.body, &e), "body: %s", res.body)
	assert.NotEmpty(t, e.Error.Message)
	assert.NotEmpty(t, e.Error.Type)
	return e
}

func compileSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("schema.json", doc))
	sch, err := c.Compile("schema.json")
	require.NoError(t, err)
	return sch
}

func validateJSON(sch *jsonschema.Schema, instance string) error {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(instance))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func TestPlainRequest(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)
	assert.True(t, strings.HasSuffix(url, "/v1"), url)

	long := strings.Repeat("é", 70)
	res := post(t, url, `{
		"model": "gpt-test",
		"messages": [
			{"role": "system", "content": "be brief"},
			{"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "`+long+`"}]}
		],
		"temperature": 0.25,
		"top_p": 0.9,
		"max_tokens": 64,
		"seed": 7,
		"metadata": {"column": "summary"}
	}`)
	c := decodeCompletion(t, res)
	assert.Equal(t, "chat.completion", c.Object)
	assert.Equal(t, "gpt-test", c.Model)
	assert.NotEmpty(t, c.ID)
	assert.NotZero(t, c.Created)
	assert.Equal(t, 0, c.Choices[0].Index)
	assert.Equal(t, "assistant", c.Choices[0].Message.Role)
	assert.Equal(t, "stop", c.Choices[0].FinishReason)
	assert.Equal(t, "Reply to: hello\n"+strings.Repeat("é", 54), c.Choices[0].Message.Content)
	assert.Positive(t, c.Usage.PromptTokens)
	assert.Positive(t, c.Usage.CompletionTokens)
	assert.Equal(t, c.Usage.PromptTokens+c.Usage.CompletionTokens, c.Usage.TotalTokens)

	// Stats are updated before the response is written, so no waiting is needed.
	assert.Equal(t, llmstub.Stats{
		Requests: 1, Completed: 1, PeakInFlight: 1,
		PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens,
	}, stub.Stats())

	reqs := stub.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "gpt-test", r.Model)
	assert.Equal(t, []llmstub.Message{
		{Role: "system", Content: "be brief"},
		{Role: "user", Content: "hello\n" + long, Images: []string{"x"}},
	}, r.Messages)
	require.NotNil(t, r.Temperature)
	assert.Equal(t, 0.25, *r.Temperature)
	require.NotNil(t, r.TopP)
	assert.Equal(t, 0.9, *r.TopP)
	require.NotNil(t, r.MaxTokens)
	assert.Equal(t, 64, *r.MaxTokens)
	assert.Nil(t, r.ResponseFormat)
	assert.Equal(t, map[string]any{"seed": 7.0, "metadata": map[string]any{"column": "summary"}}, r.Extra)

	// Requests returns copies.
	*r.Temperature = 1
	r.Extra["metadata"].(map[string]any)["column"] = "changed"
	r.Messages[0].Content = "changed"
	again := stub.Requests()[0]
	assert.Equal(t, 0.25, *again.Temperature)
	assert.Equal(t, "summary", again.Extra["metadata"].(map[string]any)["column"])
	assert.Equal(t, "be brief", again.Messages[0].Content)
}

func TestRequestParams(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)

	decodeCompletion(t, post(t, url, `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null}],"max_completion_tokens":12}`))
	decodeCompletion(t, post(t, url, `{"model":"m","messages":[{"role":"user","content":"b"}],"response_format":{"type":"text"}}`))

	reqs := stub.Requests()
	require.Len(t, reqs, 2)
	require.NotNil(t, reqs[0].MaxTokens)
	assert.Equal(t, 12, *reqs[0].MaxTokens)
	assert.Nil(t, reqs[0].Temperature)
	assert.Nil(t, reqs[0].Extra)
	assert.Equal(t, "", reqs[0].Messages[1].Content)
	require.NotNil(t, reqs[1].ResponseFormat)
	assert.Equal(t, "text", reqs[1].ResponseFormat.Type)
}

const nestedSchema = `{
	"type": "object",
	"additionalProperties": false,
	"required": ["title", "status", "score", "author", "tags", "sections", "note", "choice"],
	"properties": {
		"title": {"type": "string", "minLength": 12, "maxLength": 20},
		"status": {"type": "string", "enum": ["draft", "published"]},
		"score": {"type": "integer", "minimum": 3, "maximum": 9},
		"ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
		"author": {"$ref": "#/$defs/person"},
		"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true},
		"sections": {"type": "array", "items": {"$ref": "#/$defs/section"}, "maxItems": 3},
		"note": {"type": ["string", "null"]},
		"choice": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/person"}]},
		"kind": {"const": "report"}
	},
	"$defs": {
		"person": {
			"type": "object",
			"additionalProperties": false,
			"required": ["name", "email", "active"],
			"properties": {
				"name": {"type": "string"},
				"email": {"type": "string", "format": "email"},
				"active": {"type": "boolean"}
			}
		},
		"section": {
			"type": "object",
			"additionalProperties": false,
			"required": ["heading", "level", "children"],
			"properties": {
				"heading": {"type": "string"},
				"level": {"type": "integer", "enum": [1, 2, 3]},
				"children": {"type": "array", "items": {"$ref": "#/$defs/section"}}
			}
		}
	}
}`

func TestJSONSchemaReply(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)

	res := post(t, url, `{"model":"m","messages":[{"role":"user","content":"make a report"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"report","strict":true,"schema":`+nestedSchema+`}}}`)
	c := decodeCompletion(t, res)
	content := c.Choices[0].Message.Content
	require.NoError(t, validateJSON(compileSchema(t, nestedSchema), content), "content: %s", content)

	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(content), &got))
	assert.Equal(t, "draft", got["status"])
	assert.Equal(t, 3.0, got["score"])
	assert.Equal(t, "report", got["kind"])
	assert.Len(t, got["tags"], 2)
	assert.IsType(t, map[string]any{}, got["choice"])

	// Deterministic.
	c2 := decodeCompletion(t, post(t, url, `{"model":"m","messages":[{"role":"user","content":"again"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"report","schema":`+nestedSchema+`}}}`))
	assert.JSONEq(t, content, c2.Choices[0].Message.Content)

	rf := stub.Requests()[0].ResponseFormat
	require.NotNil(t, rf)
	assert.Equal(t, "json_schema", rf.Type)
	require.NotNil(t, rf.JSONSchema)
	assert.Equal(t, "report", rf.JSONSchema.Name)
	require.NotNil(t, rf.JSONSchema.Strict)
	assert.True(t, *rf.JSONSchema.Strict)
	assert.Equal(t, "object", rf.JSONSchema.Schema["type"])
}

func TestJSONObjectAndReplyOption(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)
	c := decodeCompletion(t, post(t, url, `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`))
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.Choices[0].Message.Content), &obj))
	assert.Equal(t, map[string]any{"reply": "Reply to: hi"}, obj)

	custom := llmstub.New(llmstub.Options{Reply: func(req *llmstub.ChatRequest) string {
		return strings.ToUpper(req.Messages[len(req.Messages)-1].Content)
	}})
	url = custom.Start(t)
	c = decodeCompletion(t, post(t, url, `{"model":"m","messages":[{"role":"user","content":"shout"}]}`))
	assert.Equal(t, "SHOUT", c.Choices[0].Message.Content)
}

func TestFaults(t *testing.T) {
	const structured = `{"model":"m","messages":[{"role":"user","content":"x"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":` + nestedSchema + `}}}`
	sch := compileSchema(t, nestedSchema)

	t.Run("429 with Retry-After", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: func(int64, *llmstub.ChatRequest) llmstub.Fault {
			return llmstub.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond}
		}})
		res := post(t, stub.Start(t), structured)
		e := decodeError(t, res, http.StatusTooManyRequests)
		assert.Equal(t, "rate_limit_error", e.Error.Type)
		assert.Equal(t, "rate_limit_exceeded", e.Error.Code)
		assert.Equal(t, "2", res.header.Get("Retry-After"))
		assert.Equal(t, "1500", res.header.Get("Retry-After-Ms"))
		assert.Equal(t, llmstub.Stats{Requests: 1, Failed: 1, PeakInFlight: 1}, stub.Stats())
	})
	t.Run("500", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: func(int64, *llmstub.ChatRequest) llmstub.Fault {
			return llmstub.Fault{Status: http.StatusInternalServerError}
		}})
		res := post(t, stub.Start(t), structured)
		e := decodeError(t, res, http.StatusInternalServerError)
		assert.Equal(t, "server_error", e.Error.Type)
		assert.Empty(t, res.header.Get("Retry-After"))
		assert.Equal(t, int64(1), stub.Stats().Failed)
	})
	t.Run("malformed", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: func(int64, *llmstub.ChatRequest) llmstub.Fault {
			return llmstub.Fault{Malformed: true}
		}})
		res := post(t, stub.Start(t), structured)
		assert.Equal(t, http.StatusOK, res.status)
		assert.NotEmpty(t, res.body)
		assert.False(t, json.Valid(res.body), "body: %s", res.body)
		assert.Equal(t, int64(1), stub.Stats().Failed)
	})
	t.Run("not a chat completion", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			fault       llmstub.Fault
			contentType string
			check       func(t *testing.T, body []byte)
		}{
			{"html", llmstub.Fault{HTML: true}, "text/html; charset=utf-8", func(t *testing.T, body []byte) {
				assert.True(t, strings.HasPrefix(string(body), "<!DOCTYPE html>"), "body: %s", body)
			}},
			{"empty", llmstub.Fault{Empty: true}, "application/json", func(t *testing.T, body []byte) {
				assert.Empty(t, body)
			}},
			{"no choices", llmstub.Fault{NoChoices: true}, "application/json", func(t *testing.T, body []byte) {
				var doc map[string]any
				require.NoError(t, json.Unmarshal(body, &doc))
				assert.NotContains(t, doc, "choices")
			}},
			{"html as json", llmstub.Fault{HTML: true, ContentType: "application/json"}, "application/json", func(t *testing.T, body []byte) {
				assert.False(t, json.Valid(body))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, tc.fault)})
				res := post(t, stub.Start(t), structured)
				assert.Equal(t, http.StatusOK, res.status)
				assert.Equal(t, tc.contentType, res.header.Get("Content-Type"))
				tc.check(t, res.body)
				assert.Equal(t, llmstub.Stats{Requests: 1, Failed: 1, PeakInFlight: 1}, stub.Stats())
			})
		}
	})
	t.Run("html error page", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: http.StatusNotFound, HTML: true})})
		res := post(t, stub.Start(t), structured)
		assert.Equal(t, http.StatusNotFound, res.status)
		assert.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
		assert.True(t, strings.HasPrefix(string(res.body), "<!DOCTYPE html>"), "body: %s", res.body)
	})
	t.Run("content type of a normal reply", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{ContentType: "text/plain"})})
		res := post(t, stub.Start(t), structured)
		assert.Equal(t, http.StatusOK, res.status)
		assert.Equal(t, "text/plain", res.header.Get("Content-Type"))
		var c completion
		require.NoError(t, json.Unmarshal(res.body, &c), "body: %s", res.body)
		require.Len(t, c.Choices, 1)
		assert.NoError(t, validateJSON(sch, c.Choices[0].Message.Content))
		assert.Equal(t, int64(1), stub.Stats().Completed)
	})
	t.Run("invalid structured", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: func(int64, *llmstub.ChatRequest) llmstub.Fault {
			return llmstub.Fault{InvalidStructured: true}
		}})
		c := decodeCompletion(t, post(t, stub.Start(t), structured))
		assert.Error(t, validateJSON(sch, c.Choices[0].Message.Content))
		st := stub.Stats()
		assert.Equal(t, int64(1), st.Failed)
		assert.Equal(t, c.Usage.CompletionTokens, st.CompletionTokens)
	})
	t.Run("delay only is a normal reply", func(t *testing.T) {
		stub := llmstub.New(llmstub.Options{Faults: func(int64, *llmstub.ChatRequest) llmstub.Fault {
			return llmstub.Fault{Delay: time.Millisecond}
		}})
		c := decodeCompletion(t, post(t, stub.Start(t), structured))
		assert.NoError(t, validateJSON(sch, c.Choices[0].Message.Content))
		assert.Equal(t, int64(1), stub.Stats().Completed)
	})
}

func TestFaultHelpers(t *testing.T) {
	f := llmstub.Fault{Status: 500}
	every := llmstub.FaultEvery(3, f)
	first := llmstub.FaultFirst(2, f)
	var everyGot, firstGot []int64
	for n := int64(1); n <= 7; n++ {
		if every(n, nil) == f {
			everyGot = append(everyGot, n)
		}
		if first(n, nil) == f {
			firstGot = append(firstGot, n)
		}
	}
	assert.Equal(t, []int64{3, 6}, everyGot)
	assert.Equal(t, []int64{1, 2}, firstGot)
	assert.Equal(t, llmstub.Fault{}, llmstub.FaultEvery(0, f)(5, nil))

	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(2, llmstub.Fault{Status: http.StatusServiceUnavailable})})
	url := stub.Start(t)
	var statuses []int
	for range 4 {
		statuses = append(statuses, post(t, url, `{"messages":[{"role":"user","content":"x"}]}`).status)
	}
	assert.Equal(t, []int{200, 503, 200, 503}, statuses)

	stub = llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(2, llmstub.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second})})
	url = stub.Start(t)
	statuses = nil
	for range 3 {
		statuses = append(statuses, post(t, url, `{"messages":[{"role":"user","content":"x"}]}`).status)
	}
	assert.Equal(t, []int{429, 429, 200}, statuses)
	assert.Equal(t, llmstub.Stats{Requests: 3, Completed: 1, Failed: 2, PeakInFlight: 1,
		PromptTokens: 1, CompletionTokens: 3}, stub.Stats())
}

func TestRejected(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)
	ctx := testCtx(t)

	res, err := do(ctx, http.MethodPost, url+"/completions", `{}`)
	require.NoError(t, err)
	decodeError(t, res, http.StatusNotFound)

	res, err = do(ctx, http.MethodGet, url+"/chat/completions", "")
	require.NoError(t, err)
	decodeError(t, res, http.StatusMethodNotAllowed)
	assert.Equal(t, http.MethodPost, res.header.Get("Allow"))

	for _, body := range []string{
		`not json`,
		`[1, 2]`,
		`{"model": "m"}`,
		`{"model": "m", "messages": []}`,
		`{"messages": "hello"}`,
		`{"messages": [{"role": "user", "content": 5}]}`,
		`{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}`,
		`{"messages": [{"role": "user", "content": "x"}], "stream": true}`,
	} {
		e := decodeError(t, post(t, url, body), http.StatusBadRequest)
		assert.Equal(t, "invalid_request_error", e.Error.Type, body)
	}

	// Any prefix works.
	res, err = do(ctx, http.MethodPost, strings.TrimSuffix(url, "/v1")+"/openai/deployments/x/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`)
	require.NoError(t, err)
	decodeCompletion(t, res)

	assert.Equal(t, llmstub.Stats{Requests: 1, Completed: 1, Rejected: 10, PeakInFlight: 1,
		PromptTokens: 1, CompletionTokens: 3}, stub.Stats())
	assert.Len(t, stub.Requests(), 1)
}

func TestConcurrency(t *testing.T) {
	const n = 8
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	url := stub.Start(t)
	ctx := testCtx(t)

	var wg sync.WaitGroup
	results := make(chan response, n)
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			res, err := do(ctx, http.MethodPost, url+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hold"}]}`)
			if err != nil {
				errs <- err
				return
			}
			results <- res
		})
	}

	require.NoError(t, stub.WaitInFlight(ctx, n))
	st := stub.Stats()
	assert.Equal(t, int64(n), st.InFlight)
	assert.Equal(t, int64(n), st.PeakInFlight)
	assert.Equal(t, int64(n), st.Requests)
	assert.Zero(t, st.Completed)

	close(gate)
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for res := range results {
		decodeCompletion(t, res)
	}
	require.NoError(t, stub.WaitInFlight(ctx, 0))
	st = stub.Stats()
	assert.Equal(t, int64(0), st.InFlight)
	assert.Equal(t, int64(n), st.PeakInFlight)
	assert.Equal(t, int64(n), st.Completed)

	samples := stub.Concurrency()
	require.Len(t, samples, 2*n)
	prev := int64(0)
	for i, s := range samples {
		assert.Equal(t, int64(1), abs(s.InFlight-prev), "sample %d", i)
		assert.False(t, s.At.IsZero())
		if i > 0 {
			assert.False(t, s.At.Before(samples[i-1].At), "sample %d goes back in time", i)
		}
		prev = s.InFlight
	}
	for i := range n {
		assert.Equal(t, int64(i+1), samples[i].InFlight)
	}
	assert.Equal(t, int64(0), samples[len(samples)-1].InFlight)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestGateReleasesOneAtATime(t *testing.T) {
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	url := stub.Start(t)
	ctx := testCtx(t)

	done := make(chan response, 2)
	for range 2 {
		go func() {
			res, _ := do(ctx, http.MethodPost, url+"/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`)
			done <- res
		}()
	}
	require.NoError(t, stub.WaitInFlight(ctx, 2))
	gate <- struct{}{}
	decodeCompletion(t, <-done)
	assert.Equal(t, int64(1), stub.Stats().InFlight)
	gate <- struct{}{}
	decodeCompletion(t, <-done)
	assert.Equal(t, int64(0), stub.Stats().InFlight)
}

func TestCancellation(t *testing.T) {
	stub := llmstub.New(llmstub.Options{Latency: time.Hour})
	url := stub.Start(t)
	ctx := testCtx(t)

	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := do(reqCtx, http.MethodPost, url+"/chat/completions", `{"messages":[{"role":"user","content":"slow"}]}`)
		errc <- err
	}()

	require.NoError(t, stub.WaitInFlight(ctx, 1))
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	require.NoError(t, stub.WaitCancelled(ctx, 1))
	assert.Equal(t, llmstub.Stats{Requests: 1, Cancelled: 1, PeakInFlight: 1}, stub.Stats())
}

func TestFaultDelayCancellation(t *testing.T) {
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(1, llmstub.Fault{Status: 500, Delay: time.Hour})})
	url := stub.Start(t)
	ctx := testCtx(t)

	reqCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := do(reqCtx, http.MethodPost, url+"/chat/completions", `{"messages":[{"role":"user","content":"slow"}]}`)
		errc <- err
	}()
	require.NoError(t, stub.WaitInFlight(ctx, 1))
	cancel()
	assert.Error(t, <-errc)
	require.NoError(t, stub.WaitCancelled(ctx, 1))

	// The second request is not faulted and not delayed.
	decodeCompletion(t, post(t, url, `{"messages":[{"role":"user","content":"fast"}]}`))
	assert.Equal(t, llmstub.Stats{Requests: 2, Completed: 1, Cancelled: 1, PeakInFlight: 1,
		PromptTokens: 1, CompletionTokens: 4}, stub.Stats())
}

func TestWaitHonoursContext(t *testing.T) {
	stub := llmstub.New(llmstub.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, stub.WaitInFlight(ctx, 3), context.Canceled)
	assert.NoError(t, stub.WaitInFlight(ctx, 0))
	assert.ErrorIs(t, stub.Wait(ctx, func(st llmstub.Stats) bool { return st.Requests > 0 }), context.Canceled)
}

func TestServerCloseReleasesWaiting(t *testing.T) {
	stub := llmstub.New(llmstub.Options{Gate: make(chan struct{})}) // never opened
	srv, err := stub.Listen("")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	assert.True(t, strings.HasSuffix(srv.URL, "/v1"), srv.URL)
	ctx := testCtx(t)

	done := make(chan response, 1)
	errc := make(chan error, 1)
	go func() {
		res, err := do(ctx, http.MethodPost, srv.URL+"/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`)
		errc <- err
		done <- res
	}()
	require.NoError(t, stub.WaitInFlight(ctx, 1))
	require.NoError(t, srv.Close())
	require.NoError(t, <-errc)
	decodeError(t, <-done, http.StatusServiceUnavailable)
	assert.Equal(t, llmstub.Stats{Requests: 1, Cancelled: 1, PeakInFlight: 1}, stub.Stats())
	assert.NoError(t, srv.Close(), "Close is idempotent")

	_, err = do(ctx, http.MethodPost, srv.URL+"/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`)
	assert.Error(t, err, "the listener is closed")

	// A closed stub rejects new requests.
	rec := httptest.NewRecorder()
	stub.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
		bytes.NewReader([]byte(`{"messages":[{"role":"user","content":"x"}]}`))))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, int64(1), stub.Stats().Rejected)
}

func TestHandlerInProcess(t *testing.T) {
	// The stub is a plain http.Handler: it also works without a listener.
	stub := llmstub.New(llmstub.Options{})
	rec := httptest.NewRecorder()
	stub.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`)))
	c := decodeCompletion(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()})
	assert.Equal(t, "Reply to: x", c.Choices[0].Message.Content)
	assert.NoError(t, stub.Wait(t.Context(), func(st llmstub.Stats) bool { return st.Completed == 1 }))
}

func TestForgetKeepsNoRequestsButCountsThem(t *testing.T) {
	stub := llmstub.New(llmstub.Options{Forget: true})
	url := stub.Start(t)
	for range 3 {
		decodeCompletion(t, post(t, url, `{"model": "m", "messages": [{"role": "user", "content": "hi"}]}`))
	}
	assert.Empty(t, stub.Requests())
	assert.Equal(t, int64(3), stub.Stats().Completed)
	assert.Len(t, stub.Concurrency(), 6, "every begin and end is still sampled")
}
