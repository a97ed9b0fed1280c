package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/pkg/wire"
)

// valve feeds an llmstub Gate: while open it releases every request as it reaches the gate,
// while held it releases none, so that a test keeps a known set of requests in flight.
type valve struct {
	gate chan struct{}
	hold chan bool
}

// newValve returns an open valve; its feeder stops when the test's context ends.
func newValve(t *testing.T) *valve {
	v := &valve{gate: make(chan struct{}), hold: make(chan bool)}
	ctx := t.Context()
	go func() {
		open := true
		for {
			var out chan<- struct{}
			if open {
				out = v.gate
			}
			select {
			case <-ctx.Done():
				return
			case h := <-v.hold:
				open = !h
			case out <- struct{}{}:
			}
		}
	}()
	return v
}

// set holds (true) or opens (false) the valve. Once it returns, a held valve releases nothing.
func (v *valve) set(t *testing.T, held bool) {
	select {
	case v.hold <- held:
	case <-t.Context().Done():
	}
}

// seatsTaken counts the seats claimed in rf_seats (the entries of every run and model).
func seatsTaken(ctx context.Context, js jetstream.JetStream) (int, error) {
	kv, err := js.KeyValue(ctx, wire.DefaultLayout().SeatsBucket())
	if err != nil {
		return 0, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for range lister.Keys() { // closed once every key is listed
		n++
	}
	return n, nil
}

// kill -9 of nats-server in the middle of a capped LLM run, and a restart on the same port and
// store. The rf_seats bucket lives in memory, so the restart empties it while every seat is in
// use: the workers hold their requests at the stand-in endpoint through the kill and the
// restart (its gate is shut), and must claim seats again in the re-created bucket without any
// worker sending a request the lost seats no longer cover. The run completes by itself, as the
// README promises for a server restart: every row written exactly once, and the endpoint never
// saw more than max_parallel_requests at once — before the kill, while the old requests were
// still held after it, and after. (Seats moving between the workers at the moment of the
// restart, which this run does not force, are internal/worker's
// TestSeatsLostInARestartAreNotTakenFromTheirHolder.)
func TestNATSServerKill9DuringCappedLLMRun(t *testing.T) {
	t.Parallel()
	const n, buffer, capacity = 300, 20, 8
	v := newValve(t)
	stub := llmstub.New(llmstub.Options{Gate: v.gate, Latency: 20 * time.Millisecond})
	cfg := chainConfig(t, stub.Start(t), capacity, 3)
	srv := testbin.StartNATSServer(t)
	out := t.TempDir()
	// Two workers, each serving /metrics: its requests sent and not yet answered.
	setupDeployment(t, srv.URL)
	var ws []*testbin.Process
	var metrics []string
	for range 2 {
		port := testbin.FreePort(t)
		ws = append(ws, testbin.StartProcess(t, testbin.Binary(t, "worker"), []string{"--nats-url", srv.URL,
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port)}, nil))
		metrics = append(metrics, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	}
	sinkd := testbin.StartProcess(t, testbin.Binary(t, "sinkd"), []string{"--nats-url", srv.URL, "--out", out}, nil)
	startCtx, startCancel := context.WithTimeout(t.Context(), waitTimeout)
	defer startCancel()
	for _, p := range append(ws, sinkd) {
		require.NoError(t, p.Output.WaitFor(startCtx, "started"))
	}
	// sent is what the workers have sent to the model and not had answered: the requests their
	// seats cover, and any on their way to the endpoint.
	sent := func() float64 {
		n := 0.0
		for _, m := range metrics {
			n += scrape(t, m, `rowforge_llm_in_flight{model="writer"}`)
		}
		return n
	}
	ctrl := testbin.StartProcess(t, testbin.Binary(t, "controller"), []string{"run", "-f", cfg, "-n", fmt.Sprint(n),
		"--buffer-size", fmt.Sprint(buffer), "--seed", "5", "--name", "capped", "--nats-url", srv.URL}, nil)

	// A safety net against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(t.Context(), 3*cmdTimeout)
	defer cancel()

	// Under way: a third of the requests answered. Then shut the gate and wait until every
	// seat has a request held at the endpoint.
	require.NoError(t, stub.Wait(ctx, func(s llmstub.Stats) bool { return s.Completed >= n }))
	v.set(t, true)
	require.NoError(t, stub.Wait(ctx, func(s llmstub.Stats) bool { return s.InFlight >= capacity }),
		"in flight: %+v", stub.Stats())
	require.LessOrEqual(t, stub.Stats().PeakInFlight, int64(capacity), "the cap was exceeded before the restart")
	require.False(t, ctrl.Exited(), "the run ended before the fault:\n%s", ctrl.Output.String())

	srv.Kill()
	srv.Restart(t)

	// The restarted server has an empty rf_seats (the controller re-creates the bucket after its
	// reconnect). Wait until the workers have claimed every seat in it again, their old requests
	// still held: a worker that counted a seat it no longer holds, or claimed one another worker
	// still uses, would have sent a request past the cap by then.
	js := connect(t, srv.URL)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		got, err := seatsTaken(ctx, js)
		if err == nil && got >= capacity {
			require.Equal(t, capacity, got, "seats in rf_seats")
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the workers did not claim their seats again after the restart: %d of %d (%v); stub %+v",
				got, capacity, err, stub.Stats())
		case <-poll.C:
		}
	}
	// A request a worker admitted as the last seat was claimed may still be on its way to the
	// endpoint: wait until the endpoint holds every request the workers have sent.
	for {
		st := stub.Stats()
		require.LessOrEqual(t, st.PeakInFlight, int64(capacity), "the cap was exceeded after the restart: %+v", st)
		n := sent()
		require.LessOrEqual(t, n, float64(capacity), "the workers have more requests out than seats; stub %+v", st)
		if n == float64(st.InFlight) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the workers report %v requests in flight, the endpoint %+v", n, st)
		case <-poll.C:
		}
	}

	v.set(t, false)
	require.NoError(t, waitExit(t, ctrl, runTimeout, connect(t, srv.URL)), "the run after the restart; stub %+v; controller:\n%s", stub.Stats(), ctrl.Output.String())

	st := stub.Stats()
	require.LessOrEqual(t, st.PeakInFlight, int64(capacity), "the cap was exceeded: %+v", st)
	require.GreaterOrEqual(t, st.Completed, int64(3*n), "every cell was asked for")
	ds := readDataset(t, filepath.Join(out, "capped"))
	require.Equal(t, n, ds.Meta.ActualNumRecords)
	require.Equal(t, n, ds.rows())
	ids := map[any]bool{}
	for _, tb := range ds.Tables {
		critiques := tb.column(t, "critique")
		for i, id := range tb.column(t, "id") {
			require.NotNil(t, id)
			require.False(t, ids[id], "id %v twice", id)
			ids[id] = true
			require.NotNil(t, critiques[i], "row %v has no critique", id)
		}
	}
	require.Len(t, ids, n)
	stopGracefully(t, append(ws, sinkd)...)
}
