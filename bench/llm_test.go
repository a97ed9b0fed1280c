package bench

import (
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
)

// llmShape is one configuration of BenchmarkLLMUtilization.
type llmShape struct {
	rows, buffer, cap, workers int
	heavy                      bool // most replies take llmLatency, one in llmSlowEvery takes llmSlow (see slowPrompt)
}

const (
	llmLatency   = 50 * time.Millisecond
	llmSlow      = 2 * time.Second
	llmSlowEvery = 100
	llmSettling  = time.Second // left out at each end for the steady-state figure
)

func (s llmShape) String() string {
	lat := "fixed"
	if s.heavy {
		lat = "heavy"
	}
	return fmt.Sprintf("rows=%d,buffer=%d,cap=%d,latency=%s,workers=%d", s.rows, s.buffer, s.cap, lat, s.workers)
}

// llmConfig is the shape: three chained llm-text columns and a judge of the last, all
// on one model. Each row's prompts carry its id (the stand-in's replies echo the prompt's first
// 60 characters), so that every request's text is its own (see slowPrompt). The health check
// is skipped: its one request, made before the run is created, would open the measured span
// seconds before the first group.
func llmConfig(endpoint string, capacity int) string {
	return fmt.Sprintf(`
model_providers:
  - {name: stub, endpoint: "%s"}
model_configs:
  - {alias: writer, model: w, provider: stub, skip_health_check: true, inference_parameters: {max_parallel_requests: %d}}
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea, rice]}}
  - {name: question, column_type: llm-text, model_alias: writer, prompt: "{{ id }}: ask about {{ topic }}"}
  - {name: draft, column_type: llm-text, model_alias: writer, prompt: "Draft: {{ question }}"}
  - {name: answer, column_type: llm-text, model_alias: writer, prompt: "Fix: {{ draft }}"}
  - name: grade
    column_type: llm-judge
    model_alias: writer
    prompt: "Grade: {{ answer }}"
    scores:
      - {name: accuracy, description: "Is it right?", options: {"0": wrong, "1": right}}
`, endpoint, capacity)
}

// BenchmarkLLMUtilization runs datasets of chained LLM columns in a distributed deployment (a
// nats-server, 1, 2 or 4 worker processes, sinkd, the controller command) against the
// stand-in endpoint, and reports how busy the endpoint was kept: busy request-seconds over
// cap × the span from the first request to the last reply — what a user pays for, ramp and
// tail included. The steady-state figure leaves out the first and last second. A run that
// goes over the cap fails the benchmark.
//
// The whole matrix takes ~15 minutes; narrow it with -bench, e.g.
// -bench 'LLMUtilization/rows=300,.*,latency=fixed'.
func BenchmarkLLMUtilization(b *testing.B) {
	var shapes []llmShape
	for _, size := range [][2]int{{300, 50}, {10_000, 1_000}} {
		for _, capacity := range []int{32, 256} {
			for _, heavy := range []bool{false, true} {
				for _, workers := range []int{1, 2, 4} {
					shapes = append(shapes, llmShape{rows: size[0], buffer: size[1], cap: capacity, workers: workers, heavy: heavy})
				}
			}
		}
	}
	for _, s := range shapes {
		b.Run(s.String(), func(b *testing.B) {
			var r llmRun
			for range b.N {
				r = runLLMShape(b, s)
			}
			b.ReportMetric(r.whole, "util-whole")
			b.ReportMetric(r.steady, "util-steady")
			b.ReportMetric(r.bound, "util-bound")
			b.ReportMetric(float64(r.peak), "peak-in-flight")
			b.ReportMetric(r.span.Seconds(), "span-s")
			b.ReportMetric(r.cpu, "cpu-busy")
			fmt.Printf("%-58s whole %.3f  steady %.3f  bound %.3f  peak %3d/%d  span %6.2fs  requests %d  cpu %.2f\n",
				s, r.whole, r.steady, r.bound, r.peak, s.cap, r.span.Seconds(), r.requests, r.cpu)
		})
	}
}

type llmRun struct {
	whole, steady float64
	// bound is the best whole-span utilization the shape allows: each of cap seats serves
	// whole replies one after another, so the span is at least ceil(requests/cap) replies.
	bound    float64
	peak     int64
	span     time.Duration
	requests int64
	// cpu is the share of the machine's CPU time that was busy from the processes' start to the
	// controller's exit: near 1, the machine, not the scheduling, bounds the figure.
	cpu float64
}

func runLLMShape(b *testing.B, s llmShape) llmRun {
	b.Helper()
	opts := llmstub.Options{Latency: llmLatency, Forget: true}
	var slow atomic.Int64
	if s.heavy {
		opts.Faults = func(_ int64, req *llmstub.ChatRequest) llmstub.Fault {
			if slowPrompt(req) {
				slow.Add(1)
				return llmstub.Fault{Delay: llmSlow - llmLatency}
			}
			return llmstub.Fault{}
		}
	}
	stub := llmstub.New(opts)
	url := stub.Start(b)
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "llm.yaml")
	require.NoError(b, os.WriteFile(cfgPath, []byte(llmConfig(url, s.cap)), 0o644))

	cpu0 := readCPU(b)
	srv := testbin.StartNATSServer(b)
	for range s.workers {
		testbin.StartProcess(b, testbin.Binary(b, "worker"), []string{"--nats-url", srv.URL, "--log-level", "warn"}, nil)
	}
	testbin.StartProcess(b, testbin.Binary(b, "sinkd"), []string{"--nats-url", srv.URL, "--out", b.TempDir(), "--log-level", "warn"}, nil)
	ctrl := testbin.StartProcess(b, testbin.Binary(b, "controller"), []string{"run", "-f", cfgPath,
		"-n", strconv.Itoa(s.rows), "--buffer-size", strconv.Itoa(s.buffer), "--seed", "1", "--nats-url", srv.URL}, nil)
	require.NoError(b, ctrl.Wait(), ctrl.Output.String())
	m := runLineRe.FindStringSubmatch(ctrl.Output.String())
	require.NotNil(b, m, ctrl.Output.String())
	require.Equal(b, m[1], m[2], "every record is written: %s", m[0])

	r0 := readCPU(b)
	st := stub.Stats()
	require.LessOrEqual(b, st.PeakInFlight, int64(s.cap), "the cap held")
	require.Zero(b, st.Failed, "no failed request")
	samples := stub.Concurrency()
	r := llmRun{peak: st.PeakInFlight, requests: st.Completed, cpu: r0.busySince(cpu0)}
	if len(samples) < 2 {
		return r
	}
	r.span = samples[len(samples)-1].At.Sub(samples[0].At)
	if os.Getenv("ROWFORGE_BENCH_TIMELINE") != "" { // the mean requests in flight in each 10 ms of the span
		fmt.Println("in flight:", timeline(samples, 10*time.Millisecond))
	}
	r.whole = meanInFlight(samples, 0) / float64(s.cap)
	if r.span > 3*llmSettling {
		r.steady = meanInFlight(samples, llmSettling) / float64(s.cap)
	}
	busy := float64(st.Completed) * llmLatency.Seconds()
	busy += float64(slow.Load()) * (llmSlow - llmLatency).Seconds()
	// Fixed latency: the span is at least ceil(requests/cap) replies long.
	if !s.heavy {
		waves := (st.Completed + int64(s.cap) - 1) / int64(s.cap)
		r.bound = busy / (float64(s.cap) * float64(waves) * llmLatency.Seconds())
	}
	return r
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

// timeline is the mean number of requests in flight in each step of the span, to see a ramp
// or a tail.
func timeline(samples []llmstub.Sample, step time.Duration) []int64 {
	t0 := samples[0].At
	area := make([]time.Duration, samples[len(samples)-1].At.Sub(t0)/step+1) // request-time per step
	for i := 0; i+1 < len(samples); i++ {
		a, b := samples[i].At.Sub(t0), samples[i+1].At.Sub(t0)
		for a < b {
			end := min(b, (a/step+1)*step)
			area[a/step] += time.Duration(samples[i].InFlight) * (end - a)
			a = end
		}
	}
	out := make([]int64, len(area))
	for i, x := range area {
		out[i] = int64(math.Round(float64(x) / float64(step)))
	}
	return out
}

// cpuTimes is the machine's CPU time so far, from the first line of /proc/stat (in ticks).
type cpuTimes struct{ busy, total uint64 }

func readCPU(b *testing.B) cpuTimes {
	b.Helper()
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	var t cpuTimes
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}

func (t cpuTimes) busySince(start cpuTimes) float64 {
	if t.total <= start.total {
		return 0
	}
	return float64(t.busy-start.busy) / float64(t.total-start.total)
}

// slowPrompt picks the slow replies of the heavy-tailed latency: one prompt in llmSlowEvery, by
// a hash of its text — as an endpoint is slow on some requests, whenever they come. (Picking
// every 100th request by arrival made the run's last request always slow, and always one of a
// row that a slow reply had already held back.)
func slowPrompt(req *llmstub.ChatRequest) bool {
	h := fnv.New32a()
	for _, m := range req.Messages {
		_, _ = h.Write([]byte(m.Content))
	}
	return h.Sum32()%llmSlowEvery == 0
}
