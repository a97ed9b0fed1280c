package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/wire"
)

// cells returns the LLM cells a previous delivery of group g kept in rf_cells, and keeps the
// ones this delivery generates: a worker that dies mid-group loses only its requests in flight.
// A cell that cannot be read back is generated again.
func (w *Worker) cells(ctx context.Context, run string, g int) scheduler.Cells {
	c := scheduler.Cells{Keep: func(ctx context.Context, column string, row int, v any) {
		b, err := json.Marshal(v)
		if err == nil {
			_, err = w.res.Cells.Put(ctx, wire.CellKey(run, g, column, row), b)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Debug("could not keep a cell; a redelivery would generate it again", "run", run, "group", g, "err", err)
		}
	}}
	err := broker.ReadKeys(ctx, w.res.Cells, wire.CellsOf(run, g), func(key string, value []byte) error {
		column, row, err := wire.ParseCellKey(key)
		var v any
		if err == nil {
			err = json.Unmarshal(value, &v)
		}
		if err != nil {
			return nil // generated again
		}
		if c.Done == nil {
			c.Done = map[string]map[int]any{}
		}
		if c.Done[column] == nil {
			c.Done[column] = map[int]any{}
		}
		c.Done[column][row] = v
		return nil
	})
	if err != nil {
		w.log.Warn("could not read the group's kept cells", "run", run, "group", g, "err", err)
		w.opts.Metrics.Error(metrics.ErrKeptCells)
		return scheduler.Cells{Keep: c.Keep}
	}
	if n := len(c.Done); n > 0 {
		w.log.Info("resuming a group from its kept cells", "run", run, "group", g, "columns", n)
	}
	return c
}

// outcomeStatus is how the protocol says each of the scheduler's statuses. The scheduler keeps
// its own type: it stays free of the wire and the broker (TestImportsStayPure).
var outcomeStatus = map[scheduler.Status]wire.OutcomeStatus{
	scheduler.Completed: wire.OutcomeCompleted, scheduler.Dropped: wire.OutcomeDropped,
	scheduler.Failed: wire.OutcomeFailed, scheduler.Aborted: wire.OutcomeAborted,
}

// publishOutcome stores group g's outcome, with its rows when it completed. Its message id
// derives from m's (wire.ReplyID), so that the outcome of a redelivered group is dropped as a
// duplicate rather than counted twice.
func (w *Worker) publishOutcome(ctx context.Context, m jetstream.Msg, run string, g int, out scheduler.Outcome, usage map[string]llm.ModelUsage) error {
	o := wire.Outcome{Run: run, Group: g, Status: outcomeStatus[out.Status], Worker: w.opts.ID,
		Stats: &wire.GroupStats{Rows: out.Rows, Dropped: out.Dropped, Columns: map[string]wire.ColumnStats{}}}
	for k, v := range out.Columns {
		o.Stats.Columns[k] = wire.ColumnStats(v)
	}
	for k, v := range usage {
		if o.Stats.Models == nil {
			o.Stats.Models = map[string]wire.ModelUsage{}
		}
		o.Stats.Models[k] = wire.ModelUsage(v)
	}
	if out.Err != nil {
		o.Err = out.Err.Error()
	}
	if ae, ok := errors.AsType[*wire.AbortError](out.Err); ok {
		o.AbortReason = ae.Reason
	}
	hdr, err := o.Header()
	if err != nil {
		return err
	}
	var body []byte
	if out.Status == scheduler.Completed {
		rec := out.Frame.ToRecord(nil)
		body, err = wire.EncodeRecord(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("encode the rows of group %d: %w", g, err)
		}
	}
	err = w.pub.Publish(ctx, w.layout.OutcomeSubject(run, wire.KindGroup, strconv.Itoa(g)),
		wire.ReplyID(m, "outcome", fmt.Sprintf("%s/%d/outcome", run, g)), hdr, body)
	if err != nil {
		return fmt.Errorf("publish the outcome of group %d: %w", g, err)
	}
	return nil
}

// heartbeat tells the server the group is still being worked on, so a long group is not
// redelivered to another worker while this one is healthy.
func (w *Worker) heartbeat(ctx context.Context, m jetstream.Msg) (stop func()) {
	ackWait := w.layout.AckWait
	if ackWait <= 0 { // a zero Layout field means its default
		ackWait = wire.DefaultLayout().AckWait
	}
	ctx, cancel := context.WithCancel(ctx)
	done := jsx.Every(ctx, ackWait/3, func(context.Context) { _ = m.InProgress() })
	return func() { cancel(); <-done }
}
