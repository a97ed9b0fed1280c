package lifecycle

import "fmt"

// errorGate is Data Designer's early-shutdown gate: over a sliding window of the last `window`
// generation task results, it trips once the window is full and the share of failures reaches
// `rate`. Workers report per-column counts for a whole group, so a group's results enter the
// window with its failures spread evenly among its successes — for groups smaller than the
// window that is exact, for larger ones it is the group's own error rate.
type errorGate struct {
	rate   float64
	window []bool // ring of results, true = failure
	next   int
	filled int
	errs   int
}

func newErrorGate(rate float64, window int) *errorGate {
	return &errorGate{rate: rate, window: make([]bool, window)}
}

// record adds a group's results and reports whether the gate tripped at any point.
func (g *errorGate) record(ok, failed int) bool {
	total := ok + failed
	tripped := false
	for i := range total {
		fail := (i+1)*failed/total > i*failed/total
		if g.filled == len(g.window) {
			if g.window[g.next] {
				g.errs--
			}
		} else {
			g.filled++
		}
		g.window[g.next] = fail
		if fail {
			g.errs++
		}
		g.next = (g.next + 1) % len(g.window)
		if g.filled == len(g.window) && float64(g.errs) >= g.rate*float64(len(g.window)) {
			tripped = true
		}
	}
	return tripped
}

// EarlyShutdownError is the error-rate gate tripping: too many generation tasks failed. By
// default it fails the run; with AllowPartial the committed groups are kept.
type EarlyShutdownError struct {
	Rate   float64
	Window int
	Errors int
}

func (e *EarlyShutdownError) Error() string {
	return fmt.Sprintf("early shutdown: %d of the last %d generation tasks failed (shutdown_error_rate %g); "+
		"raise --shutdown-error-rate, --disable-early-shutdown, or keep what was committed with --allow-partial",
		e.Errors, e.Window, e.Rate)
}
