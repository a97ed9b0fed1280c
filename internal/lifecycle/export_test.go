package lifecycle

// OnDrainWaiting lets a test see that an abort is waiting on workers that hold groups of the
// run (River's test-signal pattern: a no-op hook in production).
func (c *Controller) OnDrainWaiting(fn func(busy map[string][]int)) { c.drainWaiting = fn }

// OnSettleStep lets a test act after each step of settling a group (StepLedger, StepAck,
// StepResult, StepEnd, in that order): returning ErrStop stops the controller right there
// (kill -9 without the process).
func (c *Controller) OnSettleStep(fn func(g int, step string) error) { c.settleStep = fn }

// OnGroupEnding lets a test act as each group ends — once it is in the ledger, its outcome
// acked and its rows counted, before its progress is recorded: stop the controller on the spot
// by returning ErrStop, or change the run's record under it.
func (c *Controller) OnGroupEnding(fn func(g int) error) {
	c.settleStep = func(g int, step string) error {
		if step != stepResult {
			return nil
		}
		return fn(g)
	}
}

// ErrStop stops a controller as kill -9 would; see OnGroupEnding.
var ErrStop = errStop

// The steps of settle, for OnSettleStep.
const (
	StepLedger = stepLedger
	StepAck    = stepAck
	StepResult = stepResult
	StepEnd    = stepEnd
)
