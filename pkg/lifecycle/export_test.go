package lifecycle

// OnDrainWaiting lets a test see that an abort is waiting on workers that hold groups of the
// run (River's test-signal pattern: a no-op hook in production).
func (c *Controller) OnDrainWaiting(fn func(busy map[string][]int)) { c.drainWaiting = fn }

// OnGroupEnding lets a test act as each group ends: stop the controller on the spot by
// returning ErrStop (kill -9 without the process), or change the run's record under it.
func (c *Controller) OnGroupEnding(fn func(g int) error) { c.groupEnding = fn }

// ErrStop stops a controller as kill -9 would; see OnGroupEnding.
var ErrStop = errStop
