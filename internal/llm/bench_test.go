package llm_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
)

// BenchmarkComplete is the CPU a chat completion costs on this machine: the client's request
// building, the HTTP exchange and the reply's reading, with the stand-in endpoint (answering at
// once) in the same process. At a cap of hundreds of seats this cost, not the endpoint, bounds
// how busy a worker keeps the endpoint.
func BenchmarkComplete(b *testing.B) {
	stub := llmstub.New(llmstub.Options{Forget: true})
	url := stub.Start(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	temp := 0.7
	m := llm.NewModel(&config.Model{Alias: "m", Model: "stub-model", Provider: "stub",
		Params: config.InferenceParams{Temperature: &config.Distribution{Fixed: &temp}, MaxTokens: 256, ExtraBody: map[string]any{"top_k": 20}}},
		&config.Provider{Name: "stub", Endpoint: url}, 64, llm.Options{Patience: time.Minute, HTTPClient: client})
	req := llm.Request{System: "You answer in one line.", Prompt: "3f0c6a4e-8a4b-4b52-9d0e-0a6f1c2b9e11: ask about soup, and keep it short"}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Complete(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
