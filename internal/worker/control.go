package worker

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/pkg/wire"
)

// control cancels the groups in flight of a run that was aborted.
func (w *Worker) control(m *nats.Msg) {
	subj, err := w.layout.ParseSubject("control", m.Subject)
	if err != nil {
		return
	}
	ctl, err := wire.DecodeControl(m.Data)
	if err != nil {
		w.log.Warn("ignored control message", "subject", m.Subject, "err", err)
		w.opts.Metrics.Error(metrics.ErrMalformedMessage)
		return
	}
	cause := &wire.AbortError{Reason: ctl.Reason}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.aborted) > 256 { // a long-lived worker: forget old aborts (the run state still says)
		clear(w.aborted)
	}
	w.aborted[subj.Run] = cause
	for g, cancel := range w.inflight[subj.Run] {
		w.log.Info("cancelling group of an aborted run", "run", subj.Run, "group", g, "reason", ctl.Reason)
		cancel(cause)
	}
}

func (w *Worker) track(run string, g int, cancel context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[run] == nil {
		w.inflight[run] = map[int]context.CancelCauseFunc{}
	}
	w.inflight[run][g] = cancel
	if cause, ok := w.aborted[run]; ok { // the broadcast came first
		cancel(cause)
	}
}

func (w *Worker) untrack(run string, g int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inflight[run], g)
	if len(w.inflight[run]) == 0 {
		delete(w.inflight, run)
	}
}
