package llm_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// model returns a model on the stub, with fast retries.
func model(t *testing.T, stub *llmstub.Stub, params config.InferenceParams, ceiling int, patience time.Duration) *llm.Model {
	t.Helper()
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)
	return llm.NewModel(&config.Model{Alias: "m", Model: "stub-model", Provider: "stub", Params: params},
		&config.Provider{Name: "stub", Endpoint: url}, ceiling,
		llm.Options{Patience: patience, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, HTTPClient: client})
}

func TestCompleteSendsTheRequestAndCountsUsage(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	temp, maxTok := 0.7, 64
	m := model(t, stub, config.InferenceParams{Temperature: &config.Distribution{Fixed: &temp}, MaxTokens: maxTok,
		ExtraBody: map[string]any{"top_k": 20}}, 4, time.Minute)
	usage := &llm.Usage{}
	reply, err := m.Complete(llm.WithUsage(context.Background(), usage), llm.Request{System: "be brief", Prompt: "hello there"})
	require.NoError(t, err)
	require.Equal(t, llmstub.DefaultReply(stub.Requests()[0]), reply.Content)

	req := stub.Requests()[0]
	require.Equal(t, "stub-model", req.Model)
	require.Equal(t, []llmstub.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello there"}}, req.Messages)
	require.Equal(t, 0.7, *req.Temperature)
	require.Equal(t, 64, *req.MaxTokens)
	require.Equal(t, 20.0, req.Extra["top_k"], "extra_body fields go in the request body")

	got := usage.Snapshot()["m"]
	st := stub.Stats()
	require.Equal(t, llm.ModelUsage{Requests: 1, PromptTokens: st.PromptTokens, CompletionTokens: st.CompletionTokens}, got)
	require.Positive(t, got.PromptTokens)
}

func TestCompleteAsksForTheSchema(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	m := model(t, stub, config.InferenceParams{}, 4, time.Minute)
	schema := map[string]any{"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}}, "required": []any{"title"}}
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p", Schema: schema, SchemaName: "recipe"})
	require.NoError(t, err)
	rf := stub.Requests()[0].ResponseFormat
	require.NotNil(t, rf)
	require.Equal(t, "json_schema", rf.Type)
	require.Equal(t, "recipe", rf.JSONSchema.Name)
	require.Equal(t, "object", rf.JSONSchema.Schema["type"])
}

// Transient failures are retried until a reply comes; each attempt is counted.
func TestCompleteRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault llmstub.Fault
	}{
		{"429 with Retry-After", llmstub.Fault{Status: 429, RetryAfter: time.Millisecond}},
		{"500", llmstub.Fault{Status: 500}},
		{"503", llmstub.Fault{Status: 503}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(3, tc.fault)})
			m := model(t, stub, config.InferenceParams{}, 4, time.Minute)
			usage := &llm.Usage{}
			_, err := m.Complete(llm.WithUsage(context.Background(), usage), llm.Request{Prompt: "p"})
			require.NoError(t, err)
			require.EqualValues(t, 4, stub.Stats().Requests)
			u := usage.Snapshot()["m"]
			require.EqualValues(t, 4, u.Requests)
			require.EqualValues(t, 3, u.Failed)
		})
	}
}

func TestA429ShrinksTheModelsConcurrency(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(1, llmstub.Fault{Status: 429})})
	m := model(t, stub, config.InferenceParams{}, 8, time.Minute)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	require.NoError(t, err)
	require.Equal(t, 6.0, m.Limiter().State().Limit)
}

// A timeout of the model's own is an attempt that failed, not the end of the cell.
func TestCompleteRetriesATimeout(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(1, llmstub.Fault{Delay: time.Hour})})
	m := model(t, stub, config.InferenceParams{Timeout: 50 * time.Millisecond}, 4, time.Minute)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	require.NoError(t, err)
	require.NoError(t, stub.WaitCancelled(context.Background(), 1), "the endpoint saw the timed-out request go")
	require.EqualValues(t, 2, stub.Stats().Requests)
}

func TestARefusalIsNotRetried(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(1, llmstub.Fault{Status: 400})})
	m := model(t, stub, config.InferenceParams{}, 4, time.Minute)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	var re *llm.RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 400, re.Status)
	require.Equal(t, "m", re.Model)
	require.EqualValues(t, 1, stub.Stats().Requests)
}

// A model that answers only errors stops the run once the patience has passed, named.
func TestPatience(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: 500})})
	m := model(t, stub, config.InferenceParams{}, 4, 20*time.Millisecond)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	var ue *llm.UnavailableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "m", ue.Model)
	require.Contains(t, err.Error(), `model "m"`)
	require.Contains(t, err.Error(), "patience")
}

// Cancelling a cell cancels its HTTP request: the endpoint sees the client go.
func TestCancellationReachesTheEndpoint(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	m := model(t, stub, config.InferenceParams{}, 4, time.Minute)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Complete(ctx, llm.Request{Prompt: "p"})
		done <- err
	}()
	require.NoError(t, stub.WaitInFlight(context.Background(), 1))
	cancel(errors.New("run aborted"))
	require.ErrorContains(t, <-done, "run aborted")
	require.NoError(t, stub.WaitCancelled(context.Background(), 1))
	require.Zero(t, m.Limiter().State().InFlight, "the slot is released")
}

// However many cells ask at once, the endpoint never sees more than the ceiling.
func TestTheEndpointNeverSeesMoreThanTheCeiling(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	m := model(t, stub, config.InferenceParams{}, 5, time.Minute)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
			require.NoError(t, err)
		})
	}
	require.NoError(t, stub.WaitInFlight(context.Background(), 5))
	close(gate)
	wg.Wait()
	st := stub.Stats()
	require.EqualValues(t, 40, st.Completed)
	require.EqualValues(t, 5, st.PeakInFlight)
}

// A provider's extra_headers go with every request and its extra_body's fields in every body,
// chat and embeddings alike; the model's own extra_body wins.
func TestProviderExtras(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{})
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	p := &config.Provider{Name: "stub", Endpoint: url,
		ExtraHeaders: map[string]string{"X-Team": "data"}, ExtraBody: map[string]any{"top_k": 5, "seed": 1}}
	m := llm.NewModel(&config.Model{Alias: "m", Model: "stub-model", Provider: "stub",
		Params: config.InferenceParams{ExtraBody: map[string]any{"top_k": 20}}}, p, 4, llm.Options{Patience: time.Minute, HTTPClient: client})
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "hi"})
	require.NoError(t, err)
	req := stub.Requests()[0]
	require.Equal(t, "data", req.Header.Get("X-Team"))
	require.Equal(t, 20.0, req.Extra["top_k"], "the model's extra_body wins")
	require.Equal(t, 1.0, req.Extra["seed"])
	_, err = m.Embed(context.Background(), "text")
	require.NoError(t, err)
}
