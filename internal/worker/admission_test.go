package worker_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/internal/servicetest"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/wire"
)

const seatedConfig = `
model_configs:
  - {alias: m, model: stub-model, provider: stub, inference_parameters: {max_parallel_requests: 8}}
columns:
  - {name: n, column_type: sampler, sampler_type: uniform, params: {low: 0, high: 100, decimal_places: 0}}
  - {name: blurb, column_type: llm-text, model_alias: m, prompt: "About {{ n }}"}
`

// A worker whose groups make fewer requests than its model's seats takes more groups than its
// base concurrency — up to its maximum — so that small groups, or a group's tail, do not leave
// the endpoint idle; and the cap holds.
func TestWorkerTakesMoreGroupsWhileItsSeatsHaveRoom(t *testing.T) {
	t.Parallel()
	b := setup(t, wire.DefaultLayout())
	gate := make(chan struct{})
	stub := llmstub.New(llmstub.Options{Gate: gate})
	url := stub.Start(t)

	raw, err := json.Marshal(parse(t, seatedConfig).Raw)
	require.NoError(t, err)
	body, err := json.Marshal(wire.RunRecord{ID: "r", State: wire.RunRunning, Mode: wire.ModeBuild, Config: raw,
		Providers:  []wire.Provider{{Name: "stub", Endpoint: url}},
		NumRecords: 8, BufferSize: 2, DatasetName: "ds", CreatedAt: time.Now().UTC()})
	require.NoError(t, err)
	_, err = b.res.Runs.Put(t.Context(), "r", body)
	require.NoError(t, err)

	nc := natstest.Connect(t, b.srv, nats.Timeout(waitFor))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w := worker.New(nc, js, b.layout, b.res, worker.Options{ID: "w", Logger: quiet, Concurrency: 1, MaxConcurrency: 3})
	servicetest.Start(t, w.Run)

	for g := range 4 { // two requests each: three groups make six, under the eight seats
		b.publishGroup(t, "r", g, encode(t, seeds(2)))
	}
	ctx := waitCtx(t)
	require.NoError(t, stub.WaitInFlight(ctx, 6), "three groups run at once")
	cons, err := b.js.Consumer(ctx, b.layout.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.NumPending, "the fourth waits: the worker is at its maximum")

	close(gate)
	outs := b.outcomes(t, "r")
	for range 4 {
		next(t, outs)
	}
	require.LessOrEqual(t, stub.Stats().PeakInFlight, int64(8), "the cap held")
}
