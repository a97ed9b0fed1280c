package worker

import (
	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/scheduler"
)

// UseScheduler makes w generate the groups of run with s instead of the scheduler it would
// compile from the run's config, so that a test can run a generator it controls. The run
// record is still read (and its state checked) for every group.
func (w *Worker) UseScheduler(run string, s *scheduler.Scheduler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs[run] = &runEntry{sched: s}
}

// Reconnect drops w's connection to the server and calls done once it is back.
func (w *Worker) Reconnect(done func()) error {
	w.nc.SetReconnectHandler(func(*nats.Conn) { done() })
	return w.nc.ForceReconnect()
}
