package worker

import (
	"context"
	"fmt"
	"math"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/internal/tools"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/wire"
)

// compileEntry compiles run id, of record rec, for the cache, with this worker's seats of each
// capped endpoint. A run that does not compile is still an entry: its groups fail with the error.
func (w *Worker) compileEntry(id string, rec *wire.RunRecord) *runEntry {
	e := &runEntry{rec: rec}
	var caps []capped
	if w.opts.Scheduler != nil {
		e.sched, e.err = w.opts.Scheduler(rec, w.opts.TaskConcurrency)
	} else {
		e.sched, e.pool, e.tools, caps, e.err = w.compileRun(rec)
	}
	if e.pool != nil {
		for _, m := range e.pool.Models() {
			caps = append(caps, capped{name: m.Alias(), capacity: m.Capacity(), limiter: m.Limiter()})
		}
	}
	for _, c := range caps {
		e.seats = append(e.seats, newSeats(w.res.Seats, w.opts.ID, id, c.name, c.capacity, c.limiter, w.board))
	}
	e.lastRank = lastRank(rec, caps)
	return e
}

// lastRank is the rank the run's last groups share in the lines for its seats (see
// runEntry.rank): as many groups share it as it takes for their rows to fill the widest capped
// endpoint's seats, and one more. Without a capped endpoint only the last group has it: groups
// keep their own ranks.
func lastRank(rec *wire.RunRecord, caps []capped) int {
	if rec.BufferSize <= 0 {
		return math.MaxInt
	}
	groups := (rec.NumRecords + rec.BufferSize - 1) / rec.BufferSize
	widest := 0
	for _, c := range caps {
		widest = max(widest, c.capacity)
	}
	return max(0, groups-(widest+rec.BufferSize-1)/rec.BufferSize-1)
}

// compileRun builds the scheduler of a run from the config in its record, the run's models on
// their providers (the config's own, then the record's — the controller's --providers file —,
// then the built-in ones; keys read from this worker's environment, a redacted literal key from
// Options.Secrets), and the registry of its MCP providers, which connects when a column first
// needs its tools.
func (w *Worker) compileRun(rec *wire.RunRecord) (*scheduler.Scheduler, *llm.Pool, *tools.Registry, []capped, error) {
	cfg, err := config.Parse(rec.Config, seeddata.Recorded(rec.SeedData))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("run %s: config: %w", rec.ID, err)
	}
	providers := llm.Resolve(cfg.Providers, wire.ConfigProviders(rec.Providers))
	if err := w.opts.Secrets.Fill(cfg, providers); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
	}
	var pool *llm.Pool
	if len(cfg.Models) > 0 {
		opts := w.opts.LLM
		if opts.Logger == nil {
			opts.Logger = w.log.With("run", rec.ID)
		}
		if opts.Observer == nil && w.opts.Metrics != nil { // a nil *metrics.Worker in the interface is not nil
			opts.Observer = w.opts.Metrics
		}
		opts.Observer = llm.Observers(opts.Observer, w.prog.Counter(rec.ID))
		// No request before this worker holds seats: they set each model's ceiling.
		noSeats := func(int) int { return 0 }
		if pool, err = llm.NewPool(cfg, providers, noSeats, opts); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
		}
	}
	var reg *tools.Registry
	if len(cfg.Tools) > 0 {
		reg = tools.NewRegistry(cfg.MCPProviders, w.log.With("run", rec.ID))
	}
	s, caps, err := compile(cfg, pool, reg, w.opts.TaskConcurrency, true)
	if err != nil {
		if reg != nil {
			_ = reg.Close() // nothing connected yet
		}
		return nil, nil, nil, nil, fmt.Errorf("run %s: %w", rec.ID, err)
	}
	return s, pool, reg, caps, nil
}

// capped is an endpoint whose cap holds across the workers of a run through seats (see
// seats): a model, or a remote validator.
type capped struct {
	name     string
	capacity int
	limiter  *llm.Limiter
}

// Compile builds the scheduler that generates cfg's non-seed columns, taskConcurrency
// generator calls at a time; LLM columns call models of pool, and the tools of reg (nil
// without tool configs). A remote validator's cap holds on this process only: a worker holds
// it across workers (compile with seats).
func Compile(cfg *config.Config, pool *llm.Pool, reg *tools.Registry, taskConcurrency int) (*scheduler.Scheduler, error) {
	s, _, err := compile(cfg, pool, reg, taskConcurrency, false)
	return s, err
}

// compile is Compile; with seated, each remote validator's requests are admitted by a limiter
// that starts closed and that the worker's seats open, returned among the capped endpoints.
func compile(cfg *config.Config, pool *llm.Pool, reg *tools.Registry, taskConcurrency int, seated bool) (*scheduler.Scheduler, []capped, error) {
	var seeds []string
	for _, c := range cfg.SeedColumns() {
		seeds = append(seeds, c.Name)
	}
	var gens []*scheduler.Generator
	var caps []capped
	for _, c := range cfg.GeneratedColumns() {
		g, cp, err := generator(cfg, c, pool, reg, seated)
		if err != nil {
			return nil, nil, err
		}
		if cp != nil {
			caps = append(caps, *cp)
		}
		gens = append(gens, g)
	}
	graph, err := scheduler.NewGraph(seeds, gens)
	if err != nil {
		return nil, nil, err
	}
	return scheduler.New(graph, scheduler.Options{Concurrency: taskConcurrency, TaskContext: cellContext}), caps, nil
}

// cellContext puts a generator call's place in its group on the context its model and remote
// validator requests carry: their limiters serve the cell with the longest chain still waiting
// on it first, as the scheduler does, within the group's rank (see execute).
func cellContext(ctx context.Context, task scheduler.Task, height int) context.Context {
	return llm.WithCell(ctx, height, task.Row)
}

// generator builds column c's generator, and, for a seated remote validator, the endpoint its
// seats cap.
func generator(cfg *config.Config, c *config.Column, pool *llm.Pool, reg *tools.Registry, seated bool) (*scheduler.Generator, *capped, error) {
	switch {
	case config.IsLLM(c.Type):
		m, err := model(c, pool)
		if err != nil {
			return nil, nil, err
		}
		var toolbox generators.Toolbox
		if tc := cfg.Tool(c.LLM.ToolAlias); tc != nil {
			if reg == nil {
				return nil, nil, fmt.Errorf("column %q: no MCP providers for tool_alias %q", c.Name, tc.Alias)
			}
			toolbox = reg.Toolset(tc)
		}
		g, err := generators.LLM(c, m, toolbox)
		return g, nil, err
	case c.Type == config.TypeEmbedding:
		m, err := model(c, pool)
		if err != nil {
			return nil, nil, err
		}
		g, err := generators.Embedding(c, m)
		return g, nil, err
	case c.Type == config.TypeValidation:
		var opts generators.ValidationOptions
		var cp *capped
		if seated && c.Validation.Type == config.ValidatorRemote {
			opts.Limiter = llm.NewLimiter(0) // no request before this worker holds seats
			cp = &capped{name: "validator:" + c.Name, capacity: c.Validation.MaxParallelRequests, limiter: opts.Limiter}
		}
		g, err := generators.Validation(c, opts)
		return g, cp, err
	default:
		g, err := generators.Expression(c)
		return g, nil, err
	}
}

// model is the model of pool an LLM or embedding column calls.
func model(c *config.Column, pool *llm.Pool) (*llm.Model, error) {
	var m *llm.Model
	if pool != nil {
		m = pool.Model(c.LLM.ModelAlias)
	}
	if m == nil {
		return nil, fmt.Errorf("column %q: no model %q", c.Name, c.LLM.ModelAlias)
	}
	return m, nil
}
