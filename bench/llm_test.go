package bench

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/runner"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/lifecycle"
)

const (
	llmRows     = 1000
	llmCap      = 64
	llmLatency  = 100 * time.Millisecond
	llmBuffer   = 250
	llmSettling = time.Second // left out at each end: the ramp up and the tail
)

// llmConfig is a dataset whose three LLM columns depend on each other, plus a judge of the last.
func llmConfig(endpoint string) string {
	return fmt.Sprintf(`
model_providers:
  - {name: stub, endpoint: "%s"}
model_configs:
  - {alias: writer, model: w, provider: stub, inference_parameters: {max_parallel_requests: %d}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea, rice]}}
  - {name: question, column_type: llm-text, model_alias: writer, prompt: "Ask something about {{ topic }}"}
  - name: facts
    column_type: llm-structured
    model_alias: writer
    prompt: "Facts for {{ question }}"
    output_format: {type: object, properties: {calories: {type: integer}, origin: {type: string}}, required: [calories, origin]}
  - {name: answer, column_type: llm-text, model_alias: writer, prompt: "Answer {{ question }} using {{ facts.origin }}"}
  - name: grade
    column_type: llm-judge
    model_alias: writer
    prompt: "Grade the answer {{ answer }}"
    scores:
      - {name: accuracy, description: "Is it right?", options: {"0": wrong, "1": right}}
`, endpoint, llmCap)
}

// BenchmarkLLMUtilization runs a dataset of LLM columns on two workers (local mode) against
// the stand-in endpoint at a fixed latency, and reports how busy the endpoint was kept:
// requests per second achieved over what the cap allows (cap / latency), outside the first
// and last second. By Little's law that is the mean number of requests in flight over the cap.
func BenchmarkLLMUtilization(b *testing.B) {
	var util float64
	var peak int64
	var elapsed time.Duration
	var stats llmstub.Stats
	for range b.N {
		stub := llmstub.New(llmstub.Options{Latency: llmLatency})
		url := stub.Start(b)
		cfg, err := config.Parse([]byte(llmConfig(url)))
		require.NoError(b, err)
		start := time.Now()
		sum, err := runner.Run(context.Background(), runner.Params{
			Config: cfg, Workers: 2, Out: b.TempDir(), Logger: slog.New(slog.DiscardHandler),
			Run: lifecycle.Options{NumRecords: llmRows, BufferSize: llmBuffer, MaxConcurrentRowGroups: 4, Seed: seed, DatasetName: "llm"},
		})
		require.NoError(b, err)
		require.Equal(b, llmRows, sum.Result.Rows)
		elapsed = time.Since(start)
		stats = stub.Stats()
		peak = stats.PeakInFlight
		util = meanInFlight(stub.Concurrency(), llmSettling) / llmCap
	}
	b.ReportMetric(util, "utilization")
	b.ReportMetric(float64(peak), "peak-in-flight")
	rps := float64(stats.Completed) / elapsed.Seconds()
	fmt.Printf("\nrowforge LLM columns, %d rows x 4 model calls, 2 workers, max_parallel_requests %d, latency %s\n",
		llmRows, llmCap, llmLatency)
	fmt.Printf("  requests completed:                     %10d in %s (%.0f/s overall)\n", stats.Completed, elapsed.Round(time.Millisecond), rps)
	fmt.Printf("  ceiling (cap / latency):                %10.0f/s\n", llmCap/llmLatency.Seconds())
	fmt.Printf("  peak requests in flight:                %10d (cap %d)\n", peak, llmCap)
	fmt.Printf("  utilization outside first/last %s:     %10.3f (target >= 0.95)\n\n", llmSettling, util)
}

// meanInFlight integrates the in-flight count over time between the first request + skip and
// the last change - skip.
func meanInFlight(samples []llmstub.Sample, skip time.Duration) float64 {
	if len(samples) < 2 {
		return 0
	}
	from, to := samples[0].At.Add(skip), samples[len(samples)-1].At.Add(-skip)
	if !to.After(from) {
		return 0
	}
	var area float64
	for i := 0; i+1 < len(samples); i++ {
		a, b := samples[i].At, samples[i+1].At
		if b.Before(from) || a.After(to) {
			continue
		}
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		area += float64(samples[i].InFlight) * b.Sub(a).Seconds()
	}
	return area / to.Sub(from).Seconds()
}
