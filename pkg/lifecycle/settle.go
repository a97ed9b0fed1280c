package lifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/rowforge/rowforge/pkg/wire"
)

// end retires a group and frees its admission slot. It fails only when another controller has
// taken the run over.
func (r *run) end(g int) error {
	if r.c.groupEnding != nil {
		if err := r.c.groupEnding(g); err != nil {
			return err
		}
	}
	delete(r.active, g)
	r.ended[g] = true
	r.nEnded++
	<-r.slots
	if r.claims != nil {
		r.claims.mark(g) // taken or not, it is not waiting for a worker any more
	}
	if r.c.progress != nil {
		r.c.progress(Progress{RunID: r.opts.RunID, Groups: r.plan.Groups(), GroupsDone: r.nEnded,
			Rows: r.result.Rows, TargetRows: r.opts.NumRecords, GroupsDropped: r.result.Dropped})
	}
	// For `controller status`; best effort: a slow bucket must not slow the run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p := wire.RunProgress{Groups: r.plan.Groups(), GroupsDone: r.nEnded, Dropped: r.result.Dropped, Rows: r.result.Rows}
	if err := r.update(ctx, func(rec *wire.RunRecord) { rec.Progress = p }); err != nil {
		var sup *SupersededError
		if errors.As(err, &sup) {
			return err
		}
		r.c.log.Debug("could not record progress", "run", r.opts.RunID, "err", err)
	}
	return nil
}
