package llm_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
)

type observed struct {
	model              string
	outcome            llm.Outcome
	prompt, completion int64
}

// recorder is an llm.Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	requests []observed
	inFlight map[string]int
	peak     int
}

func (r *recorder) Request(model string, outcome llm.Outcome, prompt, completion int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, observed{model, outcome, prompt, completion})
}

func (r *recorder) InFlight(model string, delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight == nil {
		r.inFlight = map[string]int{}
	}
	r.inFlight[model] += delta
	r.peak = max(r.peak, r.inFlight[model])
}

// The observer sees every attempt, retries included, with the outcome the limiter sees and
// the tokens of the attempt that was answered.
func TestObserverSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(1, llmstub.Fault{Status: 429, RetryAfter: time.Millisecond})})
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	rec := &recorder{}
	m := llm.NewModel(&config.Model{Alias: "m", Model: "stub-model", Provider: "stub"},
		&config.Provider{Name: "stub", Endpoint: url}, 4,
		llm.Options{Patience: time.Minute, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, HTTPClient: client, Observer: rec})

	reply, err := m.Complete(context.Background(), llm.Request{Prompt: "hello there"})
	require.NoError(t, err)
	require.Positive(t, reply.Usage.PromptTokens)
	require.Equal(t, []observed{
		{"m", llm.RateLimited, 0, 0},
		{"m", llm.Succeeded, reply.Usage.PromptTokens, reply.Usage.CompletionTokens},
	}, rec.requests)
	require.Equal(t, map[string]int{"m": 0}, rec.inFlight, "every attempt sent was answered")
	require.Equal(t, 1, rec.peak)
}
