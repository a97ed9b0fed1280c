package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/rowforge/rowforge/internal/jsx"
)

// Mode is how progress is shown.
type Mode string

const (
	ModeAuto  Mode = "auto"  // bars when the output is a terminal, else lines
	ModeBar   Mode = "bar"   // mpb bars, redrawn several times a second
	ModeLines Mode = "lines" // an INFO log line every few seconds
	ModeOff   Mode = "off"   // nothing
)

// ParseMode reads a --progress value; "" is ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeBar, ModeLines, ModeOff:
		return m, nil
	default:
		return "", fmt.Errorf("progress mode must be auto, bar, lines or off, got %q", s)
	}
}

// IsTerminal reports whether w (or the writer a *Terminal wraps) is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := output(w).(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Source gives a run's progress; *Collector is one.
type Source interface{ Snapshot() Snapshot }

// DefaultLineEvery is how often ModeLines logs a line.
const DefaultLineEvery = 5 * time.Second

// barRefresh is how often bars take a new snapshot; mpb redraws them on its own schedule.
const barRefresh = 200 * time.Millisecond

// RenderOptions tune a Renderer.
type RenderOptions struct {
	Mode Mode
	// Out is where bars are drawn, and the terminal ModeAuto looks for (default os.Stderr).
	// When it is a *Terminal, what others write to it while the bars are drawn goes above them.
	Out io.Writer
	// Logger receives ModeLines' lines, at INFO (default slog.Default()). Give a logger whose
	// level lets INFO through.
	Logger *slog.Logger
	// Every is ModeLines' period (default DefaultLineEvery).
	Every time.Duration
}

// Renderer shows a Source's progress until Stop. Start and Stop bound its goroutines (its own
// and, for bars, mpb's).
type Renderer struct {
	src   Source
	mode  Mode
	out   io.Writer
	log   *slog.Logger
	every time.Duration

	life    sync.Mutex
	cancel  context.CancelFunc
	done    <-chan struct{}
	stopped bool

	// bars; touched by the renderer's goroutine, then by Stop once it has ended
	p       *mpb.Progress
	rows    *mpb.Bar
	columns map[string]*textBar // a bar per column, its failures after it
	models  map[string]*textBar // a line of text per model
}

// textBar is a bar with text that changes.
type textBar struct {
	bar  *mpb.Bar
	text atomic.Pointer[string]
}

func (b *textBar) set(s string) { b.text.Store(&s) }

func (b *textBar) decorator(wc decor.WC) decor.Decorator {
	b.set("")
	return decor.Any(func(decor.Statistics) string { return *b.text.Load() }, wc)
}

// NewRenderer returns a renderer of src. ModeAuto is resolved here: Mode says which it chose.
func NewRenderer(src Source, opts RenderOptions) *Renderer {
	if opts.Out == nil {
		opts.Out = os.Stderr
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Every <= 0 {
		opts.Every = DefaultLineEvery
	}
	mode := opts.Mode
	if mode == "" || mode == ModeAuto {
		mode = ModeLines
		if IsTerminal(opts.Out) {
			mode = ModeBar
		}
	}
	return &Renderer{src: src, mode: mode, out: opts.Out, log: opts.Logger, every: opts.Every,
		columns: map[string]*textBar{}, models: map[string]*textBar{}}
}

// Mode is the mode the renderer draws in: never ModeAuto.
func (r *Renderer) Mode() Mode { return r.mode }

// Start begins drawing; it returns at once. Starting twice, or after Stop, does nothing.
func (r *Renderer) Start(ctx context.Context) {
	r.life.Lock()
	defer r.life.Unlock()
	if r.cancel != nil || r.stopped || r.mode == ModeOff {
		return
	}
	every, draw := r.every, r.logLine
	if r.mode == ModeBar {
		r.p = mpb.New(mpb.WithOutput(output(r.out)), mpb.WithRefreshRate(barRefresh), mpb.WithAutoRefresh())
		if t, ok := r.out.(*Terminal); ok {
			t.draw(r.p)
		}
		every, draw = barRefresh, r.updateBars
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = jsx.Every(ctx, every, func(context.Context) { draw(r.src.Snapshot()) })
}

// Stop ends the drawing and shows the final counts: a last line, or the bars at their final
// counts, left on the terminal. It returns once every goroutine of the renderer has ended. It
// is idempotent and safe without Start.
func (r *Renderer) Stop() {
	r.life.Lock()
	defer r.life.Unlock()
	if r.stopped {
		return
	}
	r.stopped = true
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	s := r.src.Snapshot()
	if r.mode != ModeBar {
		r.logLine(s)
		return
	}
	r.updateBars(s)
	var bars []*mpb.Bar
	if r.rows != nil {
		bars = append(bars, r.rows)
	}
	for _, c := range r.columns {
		bars = append(bars, c.bar)
	}
	for _, m := range r.models {
		bars = append(bars, m.bar)
	}
	for _, b := range bars {
		b.Abort(false) // left drawn as it is (mpb's Wait needs every bar done; complete ones are)
	}
	r.p.Wait()
	if t, ok := r.out.(*Terminal); ok {
		t.draw(nil)
	}
}

// logLine logs s as one INFO line:
//
//	progress rows_done=100/300 groups=2/6 cells.text=140/300 cells.judge=100/300 requests.writer=230/2/8
//
// cells.<column> is done/total; requests.<model> is ok/failed/in_flight. failed.<column> (the
// column's cells that failed) and groups_dropped appear when not zero.
func (r *Renderer) logLine(s Snapshot) {
	attrs := []any{
		slog.String("rows_done", fmt.Sprintf("%d/%d", s.Run.Rows, s.Run.TargetRows)),
		slog.String("groups", fmt.Sprintf("%d/%d", s.Run.GroupsDone, s.Run.Groups)),
	}
	if s.Run.GroupsDropped > 0 {
		attrs = append(attrs, slog.Int("groups_dropped", s.Run.GroupsDropped))
	}
	var cells, failed, requests []any
	for _, c := range s.Columns {
		cells = append(cells, slog.String(c.Name, fmt.Sprintf("%d/%d", c.Done(), c.Total)))
		if c.Failed > 0 {
			failed = append(failed, slog.Int64(c.Name, c.Failed))
		}
	}
	for _, m := range s.Models {
		requests = append(requests, slog.String(m.Name, fmt.Sprintf("%d/%d/%d", m.OK, m.Failed, m.InFlight)))
	}
	if len(cells) > 0 {
		attrs = append(attrs, slog.Group("cells", cells...))
	}
	if len(failed) > 0 {
		attrs = append(attrs, slog.Group("failed", failed...))
	}
	if len(requests) > 0 {
		attrs = append(attrs, slog.Group("requests", requests...))
	}
	r.log.Info("progress", attrs...)
}

// updateBars brings the bars to s, adding the ones whose total became known.
func (r *Renderer) updateBars(s Snapshot) {
	if r.rows == nil && s.Run.TargetRows > 0 {
		r.rows = r.newBar("rows", int64(s.Run.TargetRows), 0, &textBar{})
	}
	if r.rows != nil {
		r.rows.SetCurrent(min(int64(s.Run.Rows), int64(s.Run.TargetRows)))
	}
	for i, c := range s.Columns {
		cb := r.columns[c.Name]
		if cb == nil {
			if c.Total <= 0 {
				continue
			}
			cb = &textBar{}
			cb.bar = r.newBar(c.Name, c.Total, 1+i, cb)
			r.columns[c.Name] = cb
		}
		if c.Failed > 0 {
			cb.set(fmt.Sprintf(" %d failed", c.Failed))
		}
		cb.bar.SetCurrent(min(c.Done(), c.Total))
	}
	for i, m := range s.Models {
		mb := r.models[m.Name]
		if mb == nil {
			mb = &textBar{}
			mb.bar = r.p.New(0, mpb.NopStyle(), mpb.BarPriority(1<<20+i),
				mpb.PrependDecorators(decor.Name("requests", decor.WCSyncSpaceR), mb.decorator(decor.WC{})))
			r.models[m.Name] = mb
		}
		mb.set(fmt.Sprintf("%s: %d ok, %d failed, %d in flight", m.Name, m.OK, m.Failed, m.InFlight))
	}
}

// newBar adds a bar of name, total long; note, when set, is text drawn after it.
func (r *Renderer) newBar(name string, total int64, priority int, note *textBar) *mpb.Bar {
	appended := []decor.Decorator{decor.Percentage(decor.WC{W: 5})}
	if note != nil {
		appended = append(appended, note.decorator(decor.WCSyncWidthR))
	}
	return r.p.New(total, mpb.BarStyle(), mpb.BarPriority(priority),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncWidth)),
		mpb.AppendDecorators(appended...))
}
