package lifecycle

// OnDrainWaiting lets a test see that an abort is waiting on workers that hold groups of the
// run (River's test-signal pattern: a no-op hook in production).
func (c *Controller) OnDrainWaiting(fn func(busy map[string][]int)) { c.drainWaiting = fn }
