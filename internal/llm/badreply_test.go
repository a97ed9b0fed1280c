package llm_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
)

// A chat completion sent with a Content-Type other than JSON is read as the completion it is.
func TestAJSONReplyWithAnotherContentTypeIsAccepted(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "text/html", "application/octet-stream"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{ContentType: ct})})
			m := model(t, stub, config.InferenceParams{}, 4, time.Minute)
			usage := &llm.Usage{}
			reply, err := m.Complete(llm.WithUsage(context.Background(), usage), llm.Request{Prompt: "hello"})
			require.NoError(t, err)
			require.Equal(t, llmstub.DefaultReply(stub.Requests()[0]), reply.Content)
			require.Positive(t, reply.Usage.CompletionTokens)
			require.EqualValues(t, 1, stub.Stats().Requests, "no retry")
			require.Zero(t, usage.Snapshot()["m"].Failed)
		})
	}
}

// A reply that is not a chat completion is asked again a few times, then fails with an error
// that names the model, the endpoint and what came back — without waiting for the patience.
func TestBadRepliesFailFast(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		fault       llmstub.Fault
		contentType string
		snippet     string // the start of the snippet; "" for an empty body
	}{
		{"html", llmstub.Fault{HTML: true}, "text/html; charset=utf-8", "<!DOCTYPE html> <html><head><title>Welcome</title>"},
		{"html sent as json", llmstub.Fault{HTML: true, ContentType: "application/json"}, "application/json", "<!DOCTYPE html>"},
		{"empty", llmstub.Fault{Empty: true}, "application/json", ""},
		{"truncated", llmstub.Fault{Malformed: true}, "application/json", `{"id":"chatcmpl-stub-`},
		{"no choices", llmstub.Fault{NoChoices: true}, "application/json", `{"id":"chatcmpl-stub-`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, tc.fault)})
			m := model(t, stub, config.InferenceParams{}, 4, time.Hour)
			usage := &llm.Usage{}
			_, err := m.Complete(llm.WithUsage(context.Background(), usage), llm.Request{Prompt: "p"})
			var bad *llm.BadReplyError
			require.ErrorAs(t, err, &bad)
			require.Equal(t, "m", bad.Model)
			require.Equal(t, "stub-model", bad.Name)
			require.Equal(t, m.Endpoint(), bad.Endpoint)
			require.Equal(t, http.StatusOK, bad.Status)
			require.Equal(t, tc.contentType, bad.ContentType)
			require.True(t, strings.HasPrefix(bad.Snippet, tc.snippet), "snippet %q", bad.Snippet)
			if tc.snippet == "" {
				require.Empty(t, bad.Snippet)
			}
			require.ErrorContains(t, err, m.Endpoint())
			require.ErrorContains(t, err, `model "m"`)
			_, unavailable := errors.AsType[*llm.UnavailableError](err)
			require.False(t, unavailable, "not the patience")
			require.EqualValues(t, llm.BadReplyAttempts, stub.Stats().Requests)
			u := usage.Snapshot()["m"]
			require.EqualValues(t, llm.BadReplyAttempts, u.Requests)
			require.EqualValues(t, llm.BadReplyAttempts, u.Failed)
		})
	}
}

// An embedding model's bad reply fails as a chat model's does.
func TestABadEmbeddingsReplyFailsFast(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{HTML: true})})
	m := model(t, stub, config.InferenceParams{GenerationType: config.GenerationEmbedding}, 4, time.Hour)
	_, err := m.Embed(context.Background(), "text")
	var bad *llm.BadReplyError
	require.ErrorAs(t, err, &bad)
	require.Equal(t, m.Endpoint(), bad.Endpoint)
	require.Contains(t, bad.Snippet, "<!DOCTYPE html>")
	require.EqualValues(t, llm.BadReplyAttempts, stub.Stats().Requests)
}

// A bad reply now and then is a glitch: the request is asked again and succeeds.
func TestABadReplyGlitchIsRetried(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(llm.BadReplyAttempts-1, llmstub.Fault{HTML: true})})
	m := model(t, stub, config.InferenceParams{}, 4, time.Hour)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	require.NoError(t, err)
	require.EqualValues(t, llm.BadReplyAttempts, stub.Stats().Requests)
}

// An error status whose body is an HTML page (a proxy's) says what the page says.
func TestAnHTMLErrorPageIsQuoted(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: http.StatusNotFound, HTML: true})})
	m := model(t, stub, config.InferenceParams{}, 4, time.Hour)
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	var re *llm.RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusNotFound, re.Status)
	require.ErrorContains(t, err, "It works!")
	require.ErrorContains(t, err, "text/html")
}

// levels is a slog handler that keeps the level and attributes of every record.
type levels struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *levels) Enabled(context.Context, slog.Level) bool { return true }
func (h *levels) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *levels) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levels) WithGroup(string) slog.Handler      { return h }

// The model's first failed attempt is a WARN naming the model, the endpoint and the cause; the
// later ones are DEBUG.
func TestTheFirstFailureOfAModelIsAWarning(t *testing.T) {
	t.Parallel()
	stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(3, llmstub.Fault{Status: 503})})
	url := stub.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	h := &levels{}
	m := llm.NewModel(&config.Model{Alias: "m", Model: "stub-model", Provider: "stub"}, &config.Provider{Name: "stub", Endpoint: url}, 4,
		llm.Options{Patience: time.Hour, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, HTTPClient: client, Logger: slog.New(h)})
	_, err := m.Complete(context.Background(), llm.Request{Prompt: "p"})
	require.NoError(t, err)
	_, err = m.Complete(context.Background(), llm.Request{Prompt: "p"})
	require.NoError(t, err)

	h.mu.Lock()
	defer h.mu.Unlock()
	var got []slog.Level
	for _, r := range h.records {
		got = append(got, r.Level)
	}
	require.Equal(t, []slog.Level{slog.LevelWarn, slog.LevelDebug, slog.LevelDebug}, got)
	attrs := map[string]string{}
	h.records[0].Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	require.Equal(t, "m", attrs["model"])
	require.Equal(t, url, attrs["endpoint"])
	require.Contains(t, attrs["err"], "503")
}
