package deploy_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

// progressLines is where a run's progress lines go: each is kept, and handed to a channel.
type progressLines struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func (p *progressLines) Write(b []byte) (int, error) {
	line := strings.TrimSuffix(string(b), "\n")
	p.mu.Lock()
	p.all = append(p.all, line)
	p.mu.Unlock()
	select {
	case p.ch <- line:
	default: // the test reads only until it has seen what it waits for
	}
	return len(b), nil
}

func (p *progressLines) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all[len(p.all)-1]
}

// Progress moves while every group is still open: in local mode, with the endpoint holding
// every reply, a progress line shows the model's requests in flight before any group has
// ended; once the replies go, the run completes and its last line counts every cell.
func TestProgressLinesWhileGroupsAreOpen(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	url := stub.Start(t)
	// No health check: the gate would hold its request too.
	cfg := load(t, `
model_providers:
  - {name: stub, endpoint: "`+url+`"}
model_configs:
  - {alias: writer, model: w, provider: stub, skip_health_check: true, inference_parameters: {max_parallel_requests: 4}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread]}}
  - {name: text, column_type: llm-text, model_alias: writer, prompt: "Write about {{ topic }}"}
  - {name: shout, column_type: expression, expr: "{{ text | upper }}"}
`)
	lines := &progressLines{ch: make(chan string, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := deploy.Run(ctx, deploy.Params{
			Config: cfg, Workers: 2, Out: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			Run: lifecycle.Options{Mode: wire.ModeBuild, NumRecords: 20, BufferSize: 10, Seed: 5, DatasetName: "progress"},
			// A line every few milliseconds: the test waits for the one it needs, not for a time.
			Progress: progress.RenderOptions{Mode: progress.ModeLines, Every: 5 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(lines, nil))},
		})
		done <- err
	}()

	inFlight := regexp.MustCompile(`requests\.writer=0/0/([1-9][0-9]*)`)
	var seen string
	for seen == "" {
		select {
		case line := <-lines.ch:
			if inFlight.MatchString(line) {
				seen = line
			}
		case err := <-done:
			t.Fatalf("the run ended before a progress line showed requests in flight: %v", err)
		case <-ctx.Done():
			t.Fatal("no progress line showed requests in flight")
		}
	}
	require.Contains(t, seen, "msg=progress rows_done=0/20 groups=0/2 cells.text=0/20 cells.shout=0/20",
		"no group has ended and no reply has come: the line says so")
	require.Zero(t, stub.Stats().Completed, "the endpoint has answered nothing yet")

	close(gate)
	require.NoError(t, <-done)
	require.Contains(t, lines.last(), "rows_done=20/20 groups=2/2 cells.text=20/20 cells.shout=20/20 requests.writer=20/0/0",
		"the last line counts every cell and request")
}
