package progress

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/pkg/wire"
)

// RunProgress is what the controller itself knows of a run: the groups that ended and the
// rows they committed.
type RunProgress struct {
	Rows, TargetRows   int // rows committed, of the run's records
	Groups, GroupsDone int
	GroupsDropped      int // groups every row of which was dropped
}

// Column is one column's progress: its cells resolved so far, of Total (0 while unknown).
type Column struct {
	Name  string
	Total int64
	wire.CellCounts
}

// Model is one model's requests so far.
type Model struct {
	Name string
	wire.RequestCounts
}

// Snapshot is a run's progress at one moment.
type Snapshot struct {
	Run     RunProgress
	Columns []Column // the expected columns in their order, then any other, by name
	Models  []Model  // by name
	Workers int      // worker sessions that reported
}

// CollectorOptions describe what a run is expected to do.
type CollectorOptions struct {
	// Columns are the run's generated columns, in the order to show them; columns that only
	// reports name are shown after them.
	Columns []string
	// Rows is each column's number of cells: the run's records. 0: the TargetRows of SetRun.
	Rows   int
	Logger *slog.Logger
}

// Collector merges the workers' progress reports of one run. It is safe for concurrent use;
// Start and Stop bound its subscription.
type Collector struct {
	nc      *nats.Conn
	subject string
	run     string
	opts    CollectorOptions
	log     *slog.Logger

	mu     sync.Mutex
	latest map[session]*wire.ProgressReport
	prog   RunProgress
	bad    int // undecodable reports, logged on the first
	sub    *nats.Subscription
	done   bool
}

// session identifies a reporter: a worker, in one of its lives.
type session struct{ worker, id string }

// NewCollector returns the collector of run's reports on nc, which it does not own.
func NewCollector(nc *nats.Conn, layout wire.Layout, run string, opts CollectorOptions) *Collector {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Collector{nc: nc, subject: layout.ProgressSubject(run), run: run, opts: opts, log: opts.Logger,
		latest: map[session]*wire.ProgressReport{}}
}

// Start subscribes to the run's progress subject. Starting twice, or after Stop, does nothing.
func (c *Collector) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub != nil || c.done {
		return nil
	}
	sub, err := c.nc.Subscribe(c.subject, c.receive)
	if err != nil {
		return fmt.Errorf("progress: subscribe %s: %w", c.subject, err)
	}
	c.sub = sub
	return nil
}

// Stop unsubscribes. The collector keeps its counts: Snapshot still works. It is idempotent
// and safe without Start.
func (c *Collector) Stop() {
	c.mu.Lock()
	sub := c.sub
	c.sub, c.done = nil, true
	c.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
}

func (c *Collector) receive(m *nats.Msg) {
	r, err := wire.DecodeProgress(m.Data)
	if err != nil {
		c.mu.Lock()
		c.bad++
		first := c.bad == 1
		c.mu.Unlock()
		if first {
			c.log.Warn("ignored a malformed progress report (only the first is logged)", "subject", m.Subject, "err", err)
		}
		return
	}
	c.Merge(r)
}

// Merge keeps r if it is the latest of its worker's session for the collector's run, and
// reports whether it did. Reports of other runs, and older or repeated ones, change nothing.
func (c *Collector) Merge(r *wire.ProgressReport) bool {
	if r == nil || r.Run != c.run {
		return false
	}
	k := session{r.Worker, r.Session}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.latest[k]; ok && prev.Seq >= r.Seq {
		return false
	}
	c.latest[k] = r
	return true
}

// SetRun records what the controller knows of the run (lifecycle's progress).
func (c *Collector) SetRun(p RunProgress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prog = p
}

// Snapshot sums the latest report of every worker session. A count a worker took back (a
// group handed back) never shows below zero.
func (c *Collector) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	cells := map[string]wire.CellCounts{}
	models := map[string]wire.RequestCounts{}
	for _, r := range c.latest {
		for name, d := range r.Columns {
			cells[name] = cells[name].Add(d)
		}
		for name, d := range r.Models {
			models[name] = models[name].Add(d)
		}
	}
	total := int64(c.opts.Rows)
	if total <= 0 {
		total = int64(c.prog.TargetRows)
	}
	s := Snapshot{Run: c.prog, Workers: len(c.latest)}
	seen := map[string]bool{}
	for _, name := range c.opts.Columns {
		seen[name] = true
		s.Columns = append(s.Columns, Column{Name: name, Total: total, CellCounts: clampCells(cells[name])})
	}
	var extra []string
	for name := range cells {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		s.Columns = append(s.Columns, Column{Name: name, Total: total, CellCounts: clampCells(cells[name])})
	}
	for _, name := range slices.Sorted(maps.Keys(models)) {
		m := models[name]
		m.Sent, m.OK, m.Failed, m.InFlight = max(m.Sent, 0), max(m.OK, 0), max(m.Failed, 0), max(m.InFlight, 0)
		s.Models = append(s.Models, Model{Name: name, RequestCounts: m})
	}
	return s
}

func clampCells(c wire.CellCounts) wire.CellCounts {
	return wire.CellCounts{OK: max(c.OK, 0), Failed: max(c.Failed, 0), Skipped: max(c.Skipped, 0), Dropped: max(c.Dropped, 0)}
}
