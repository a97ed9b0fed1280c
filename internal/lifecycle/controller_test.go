package lifecycle_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/local"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testConfig = `
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: hidden, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, drop: true}
  - {name: label, column_type: expression, expr: "{{ 'big' if n > 50 else 'small' }}-{{ hidden }}"}
  - {name: twice, column_type: expression, dtype: float, expr: "{{ n * 2 }}"}
`

type bundle struct {
	cluster *local.Cluster
	ctrl    *lifecycle.Controller
	nc      *nats.Conn
	res     *broker.Resources
	js      jetstream.JetStream
}

// setup starts a local deployment (embedded server, workers) and a controller on it.
func setup(t *testing.T, workers int) *bundle {
	t.Helper()
	return setupWith(t, local.Options{Workers: workers})
}

// setupWith is setup with the deployment's options (Out and Logger are set here).
func setupWith(t *testing.T, opts local.Options) *bundle {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	opts.Out, opts.Logger = t.TempDir(), log
	cl, err := local.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(cl.Stop)
	nc, js, err := cl.Connect("test-controller")
	require.NoError(t, err)
	res, err := broker.Ensure(ctx, js, cl.Layout())
	require.NoError(t, err)
	return &bundle{cluster: cl, ctrl: lifecycle.New(nc, js, cl.Layout(), res, log), nc: nc, res: res, js: js}
}

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(src))
	require.NoError(t, err)
	return cfg
}

func frames(t *testing.T, m *sinks.Memory) map[int]*frame.Frame {
	t.Helper()
	out := map[int]*frame.Frame{}
	for g, rec := range m.Groups() {
		f, err := frame.FromRecord(rec)
		require.NoError(t, err)
		out[g] = f
	}
	return out
}

func runState(t *testing.T, b *bundle, run string) wire.RunState {
	t.Helper()
	e, err := b.res.Runs.Get(context.Background(), run)
	require.NoError(t, err)
	rec, err := wire.DecodeRunRecord(e.Value())
	require.NoError(t, err)
	return rec.State
}

// Run generates a dataset end to end: every group committed then the metadata, the same values
// whatever the workers, model usage counted; a group that fails fails the run.
func TestRun(t *testing.T) {
	t.Parallel()

	t.Run("CommitsEveryGroupThenMetadata", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		cfg := parse(t, testConfig)
		res, err := b.ctrl.Run(context.Background(), cfg, lifecycle.Options{
			NumRecords: 250, BufferSize: 100, MaxConcurrentRowGroups: 2, Seed: 9, DatasetName: "t"}, sink)
		require.NoError(t, err)
		require.Equal(t, wire.RunCompleted, res.Status)
		require.Equal(t, 250, res.Rows)
		require.Len(t, res.Commits, 3)

		got := frames(t, sink)
		require.Len(t, got, 3)
		require.Equal(t, 100, got[0].Len())
		require.Equal(t, 50, got[2].Len())
		var names []string
		for _, c := range got[0].Columns() {
			names = append(names, c.Name)
		}
		require.Equal(t, []string{"id", "n", "label", "twice"}, names, "config order, dropped column removed")
		for g, f := range got {
			for i := range f.Len() {
				require.Equal(t, f.Column("n").Floats[i]*2, f.Column("twice").Floats[i], "group %d row %d", g, i)
			}
		}

		meta := sink.Meta()
		require.NotNil(t, meta)
		require.Equal(t, 250, meta.ActualNumRecords)
		require.Equal(t, 3, meta.TotalNumBatches)
		require.Equal(t, cfg.Hash(), meta.ConfigHash)
		require.True(t, json.Valid(meta.BuilderConfig))
		require.Equal(t, wire.RunCompleted, runState(t, b, res.RunID))
	})

	// The same seed gives the same values whatever the number of workers and the order in which
	// groups finish.
	t.Run("SeedReproducibleAcrossWorkerCounts", func(t *testing.T) {
		t.Parallel()
		cfg := parse(t, testConfig)
		var results []map[int]*frame.Frame
		for _, workers := range []int{1, 3} {
			b := setup(t, workers)
			sink := sinks.NewMemory()
			t.Cleanup(sink.Release)
			_, err := b.ctrl.Run(context.Background(), cfg, lifecycle.Options{
				NumRecords: 600, BufferSize: 50, MaxConcurrentRowGroups: 6, Seed: 1234}, sink)
			require.NoError(t, err)
			results = append(results, frames(t, sink))
		}
		require.Len(t, results[0], 12)
		for g, f := range results[0] {
			other := results[1][g]
			require.Equal(t, f.Len(), other.Len())
			for _, c := range f.Columns() {
				require.Equal(t, c, other.Column(c.Name), "group %d column %s", g, c.Name)
			}
		}
	})

	t.Run("FailedGroupFailsRunWithoutMetadata", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		cfg := parse(t, `
columns:
  - {name: a, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 1}}
  - {name: broken, column_type: expression, dtype: int, expr: "not a number {{ a }}"}
`)
		res, err := b.ctrl.Run(context.Background(), cfg, lifecycle.Options{NumRecords: 30, BufferSize: 10}, sink)
		var ge *lifecycle.DatasetGenerationError
		require.ErrorAs(t, err, &ge)
		require.GreaterOrEqual(t, ge.Group, 0)
		require.Contains(t, err.Error(), `"broken"`)
		require.Equal(t, wire.RunFailed, res.Status)
		require.Nil(t, sink.Meta(), "a failed run never writes metadata")
		require.True(t, sink.Discarded())
		require.Equal(t, wire.RunFailed, runState(t, b, res.RunID))
	})

	// A run with LLM columns on two workers: every row is generated, the endpoint never sees more
	// than the model's max_parallel_requests, and the metadata counts what the endpoint served.
	t.Run("LLMRunHoldsTheCapAndCountsUsage", func(t *testing.T) {
		t.Parallel()
		stub := llmstub.New(llmstub.Options{Latency: time.Millisecond})
		url := stub.Start(t)
		b := setup(t, 2)
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		cfg := parse(t, `
model_providers:
  - {name: stub, endpoint: "`+url+`"}
model_configs:
  - {alias: writer, model: w, provider: stub, inference_parameters: {max_parallel_requests: 6}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup, bread, tea]}}
  - {name: text, column_type: llm-text, model_alias: writer, prompt: "Write about {{ topic }}"}
  - name: facts
    column_type: llm-structured
    model_alias: writer
    prompt: "Facts about {{ text }}"
    output_format: {type: object, properties: {calories: {type: integer}}, required: [calories]}
  - {name: summary, column_type: llm-text, model_alias: writer, prompt: "{{ facts.calories }} kcal: {{ text }}"}
`)
		res, err := b.ctrl.Run(context.Background(), cfg, lifecycle.Options{NumRecords: 120, BufferSize: 20,
			MaxConcurrentRowGroups: 4, Seed: 3}, sink)
		require.NoError(t, err)
		require.Equal(t, 120, res.Rows)
		st := stub.Stats()
		require.EqualValues(t, 360, st.Completed, "three LLM cells per row")
		require.LessOrEqual(t, st.PeakInFlight, int64(6))
		meta := sink.Meta()
		require.Equal(t, map[string]wire.ModelUsage{"writer": {Requests: 360, PromptTokens: st.PromptTokens,
			CompletionTokens: st.CompletionTokens}}, meta.ModelUsage)
		for g, f := range frames(t, sink) {
			for i := range f.Len() {
				require.Contains(t, f.Column("summary").Strings[i], "kcal", "group %d row %d", g, i)
			}
		}
	})

	// A model that answers only errors past the workers' patience fails the run, naming it.
	t.Run("UnavailableModelFailsTheRun", func(t *testing.T) {
		t.Parallel()
		stub := llmstub.New(llmstub.Options{Faults: llmstub.FaultEvery(1, llmstub.Fault{Status: 503})})
		url := stub.Start(t)
		b := setupWith(t, local.Options{Workers: 1, LLM: llm.Options{Patience: 50 * time.Millisecond,
			Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
		sink := sinks.NewMemory()
		t.Cleanup(sink.Release)
		res, err := b.ctrl.Run(context.Background(), llmConfig(t, url), lifecycle.Options{NumRecords: 20, BufferSize: 10}, sink)
		var ge *lifecycle.DatasetGenerationError
		require.ErrorAs(t, err, &ge)
		require.Contains(t, err.Error(), `model "writer"`)
		require.Contains(t, err.Error(), "patience")
		require.Equal(t, wire.RunFailed, res.Status)
		require.Nil(t, sink.Meta())
	})
}

func TestPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, b, groups, last int }{{10, 3, 4, 1}, {9, 3, 3, 3}, {1, 1000, 1, 1}} {
		p := lifecycle.Plan{NumRecords: tc.n, BufferSize: tc.b}
		require.Equal(t, tc.groups, p.Groups())
		require.Equal(t, tc.last, p.Size(p.Groups()-1))
	}
}

// llmConfig is a one-LLM-column config on endpoint.
func llmConfig(t *testing.T, endpoint string) *config.Config {
	return parse(t, `
model_providers:
  - {name: stub, endpoint: "`+endpoint+`"}
model_configs:
  - {alias: writer, model: w, provider: stub, inference_parameters: {max_parallel_requests: 4}}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup]}}
  - {name: text, column_type: llm-text, model_alias: writer, prompt: "Write about {{ topic }}"}
`)
}
