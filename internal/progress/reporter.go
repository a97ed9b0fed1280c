package progress

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Counter counts one run's work on one worker: cells per column and requests per model. It is
// safe for concurrent use, and every method is safe on a nil *Counter (and counts nothing), so
// callers need not check. It is the run's models' llm.Observer.
type Counter struct {
	mu      sync.Mutex
	columns map[string]wire.CellCounts
	models  map[string]wire.RequestCounts
	version uint64 // one more at each change
	open    int    // groups begun and not ended
}

var _ llm.Observer = (*Counter)(nil)

func newCounter() *Counter {
	return &Counter{columns: map[string]wire.CellCounts{}, models: map[string]wire.RequestCounts{}}
}

// Request counts a model request that ended: OK when it succeeded, else Failed (a rate limit
// and a cancellation are failures too).
func (c *Counter) Request(model string, outcome llm.Outcome, _, _ int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[model]
	if outcome == llm.Succeeded {
		m.OK++
	} else {
		m.Failed++
	}
	c.models[model] = m
	c.version++
}

// InFlight counts a request sent (+1) and one answered or abandoned (-1).
func (c *Counter) InFlight(model string, delta int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[model]
	if delta > 0 {
		m.Sent += int64(delta)
	}
	m.InFlight += int64(delta)
	c.models[model] = m
	c.version++
}

// Group begins the tally of one delivery of a row group. Its cells count in the run's totals
// as they are resolved; Discard takes them off again. End it when its generation is over.
func (c *Counter) Group() *Group {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
	return &Group{c: c, cells: map[string]wire.CellCounts{}}
}

// add adds d to column's counts (sign -1 subtracts).
func (c *Counter) add(column string, d wire.CellCounts, sign int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.columns[column]
	cur.OK += sign * d.OK
	cur.Failed += sign * d.Failed
	cur.Skipped += sign * d.Skipped
	cur.Dropped += sign * d.Dropped
	c.columns[column] = cur
	c.version++
}

// snapshot copies the counts, with their version.
func (c *Counter) snapshot() (map[string]wire.CellCounts, map[string]wire.RequestCounts, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.columns), maps.Clone(c.models), c.version
}

// Group tallies the cells of one delivery of a row group. It is safe for concurrent use and
// on a nil *Group.
type Group struct {
	c         *Counter
	mu        sync.Mutex
	cells     map[string]wire.CellCounts
	ended     bool
	discarded bool
}

// End marks the group's generation over, and reports whether it was the last of the run's
// groups begun and not ended: then the run's counts will not change for a while, and a worker
// flushes them (before the group's outcome, so that the controller has its counts first). Only
// the first call can report true.
func (g *Group) End() (last bool) {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return false
	}
	g.ended = true
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.c.open--
	return g.c.open == 0
}

// Cells counts cells of column resolved in this group.
func (g *Group) Cells(column string, d wire.CellCounts) {
	if g == nil || d == (wire.CellCounts{}) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.discarded {
		return
	}
	g.cells[column] = g.cells[column].Add(d)
	g.c.add(column, d, 1)
}

// Discard takes the group's cells off the run's counts, for a group that another worker will
// generate again (handed back). Cells counted afterwards are ignored. It is idempotent.
func (g *Group) Discard() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.discarded {
		return
	}
	g.discarded = true
	for column, d := range g.cells {
		g.c.add(column, d, -1)
	}
	clear(g.cells)
}

// DefaultEvery is how often a Reporter publishes a run's counts that changed.
const DefaultEvery = 500 * time.Millisecond

// ReporterOptions tune a Reporter.
type ReporterOptions struct {
	Every  time.Duration // at most one report per run this often (default DefaultEvery)
	Logger *slog.Logger
}

// Reporter publishes a worker's Counters, one per run, on the runs' progress subjects. It is
// safe for concurrent use; Start and Stop bound its one goroutine.
type Reporter struct {
	nc      *nats.Conn
	layout  wire.Layout
	worker  string
	session string
	every   time.Duration
	log     *slog.Logger

	mu   sync.Mutex
	runs map[string]*runReport
	made int // counters made, to name their sessions

	pub sync.Mutex // one publish at a time: sequence numbers follow the counts they carry

	life    sync.Mutex
	cancel  context.CancelFunc
	done    <-chan struct{}
	stopped bool
}

type runReport struct {
	counter *Counter
	// session is the reporter's, and the counter's number: a run forgotten and seen again
	// counts from zero in a session of its own, which readers add to the old one.
	session   string
	seq       uint64
	published uint64 // the counter's version last published
}

// NewReporter returns the reporter of worker, publishing on nc, which it does not own.
func NewReporter(nc *nats.Conn, layout wire.Layout, worker string, opts ReporterOptions) *Reporter {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Reporter{nc: nc, layout: layout, worker: worker, session: uuid.NewString()[:8], every: opts.Every,
		log: opts.Logger, runs: map[string]*runReport{}}
}

// Counter returns run's counter, made on first use.
func (r *Reporter) Counter(run string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	rr, ok := r.runs[run]
	if !ok {
		r.made++
		rr = &runReport{counter: newCounter(), session: fmt.Sprintf("%s-%d", r.session, r.made)}
		r.runs[run] = rr
	}
	return rr.counter
}

// Flush publishes run's counts now if they changed since the last report: for when the
// worker's last group of the run has ended and nothing may change for a while.
func (r *Reporter) Flush(run string) {
	r.mu.Lock()
	rr := r.runs[run]
	r.mu.Unlock()
	if rr != nil {
		r.publish(run, rr)
	}
}

// Forget flushes run and drops its counter, for a run this worker will not see again.
func (r *Reporter) Forget(run string) {
	r.Flush(run)
	r.mu.Lock()
	delete(r.runs, run)
	r.mu.Unlock()
}

// Start begins publishing, every Every, the counts that changed. It returns at once; Stop ends
// it. Starting twice, or after Stop, does nothing.
func (r *Reporter) Start(ctx context.Context) {
	r.life.Lock()
	defer r.life.Unlock()
	if r.cancel != nil || r.stopped {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = jsx.Every(ctx, r.every, func(context.Context) { r.publishAll() })
}

// Stop ends the publishing goroutine, waits for it, and publishes the counts that changed
// since: each run's last report. It is idempotent and safe without Start.
func (r *Reporter) Stop() {
	r.life.Lock()
	defer r.life.Unlock()
	if r.stopped {
		return
	}
	r.stopped = true
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.publishAll()
}

func (r *Reporter) publishAll() {
	r.mu.Lock()
	runs := maps.Clone(r.runs)
	r.mu.Unlock()
	for run, rr := range runs {
		r.publish(run, rr)
	}
}

// publish sends run's counts if they changed since its last report. Core NATS publishes only
// buffer: this never waits on the network.
func (r *Reporter) publish(run string, rr *runReport) {
	r.pub.Lock()
	defer r.pub.Unlock()
	columns, models, version := rr.counter.snapshot()
	if version == rr.published {
		return
	}
	rr.seq++
	b, err := wire.EncodeProgress(&wire.ProgressReport{Run: run, Worker: r.worker, Session: rr.session, Seq: rr.seq,
		Columns: columns, Models: models})
	if err == nil {
		err = r.nc.Publish(r.layout.ProgressSubject(run), b)
	}
	if err != nil {
		r.log.Debug("could not publish a progress report; the next one carries its counts", "run", run, "err", err)
		return
	}
	rr.published = version
}
