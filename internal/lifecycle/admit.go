package lifecycle

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// admit prepares and publishes groups in plan order, never more than the window at once, and,
// after the first few (see eagerGroups), each once the one published before it was taken by a
// worker (see claims).
func (r *run) admit(ctx context.Context) {
	defer r.wg.Done()
	last, published := -1, 0 // the group published last, and how many were
	eager := eagerGroups(r.cfg, r.opts.BufferSize)
	for g := range r.plan.Groups() {
		if r.endedBefore[g] {
			continue
		}
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		f, sides, err := r.prepare(ctx, g)
		if err != nil {
			r.emit(ctx, event{kind: evFailed, group: g, err: err})
			return
		}
		if published >= eager && r.claims != nil {
			r.claims.await(ctx, last)
		}
		// Registered before it is published: its outcome may come back at once.
		r.emit(ctx, event{kind: evAdmitted, group: g, sides: sides, empty: f.Len() == 0})
		if f.Len() == 0 {
			continue
		}
		if err := r.publish(ctx, g, f); err != nil {
			r.emit(ctx, event{kind: evFailed, group: g, err: err})
			return
		}
		last = g
		published++
	}
}

// eagerGroups is how many groups a run publishes before it waits for workers to take them: as
// many as it takes for their rows to fill the widest model's seats (at least one). Published
// each after the one before was taken — a round trip to the workers apiece — a run whose groups
// are small next to its cap would fill the seats only after several round trips: tens of
// milliseconds of 300 rows at cap 256, a tenth of the run. More are never needed to fill the
// seats, and the window (max_concurrent_row_groups) still bounds them.
func eagerGroups(cfg *config.Config, bufferSize int) int {
	widest := 0
	for _, m := range cfg.Models {
		widest = max(widest, m.Params.MaxParallelRequests)
	}
	if bufferSize <= 0 {
		return 1
	}
	return max(1, (widest+bufferSize-1)/bufferSize)
}

// prepare materializes group g's seed columns and runs PRE_BATCH on them. The row count it
// returns is the one the workers' trackers are built from, so it is fixed here: a processor
// changes it only if it says allow_resize.
func (r *run) prepare(ctx context.Context, g int) (*frame.Frame, []processors.SideOutput, error) {
	size := r.plan.Size(g)
	f, err := r.samplers.Draw(r.opts.Seed, g, size)
	if err != nil {
		return nil, nil, fmt.Errorf("sampler columns: %w", err)
	}
	if r.seedRows != nil {
		if f, err = r.withSeedRows(ctx, g, f); err != nil {
			return nil, nil, err
		}
	}
	if f.Len() != size {
		return nil, nil, fmt.Errorf("seed columns have %d rows, want %d", f.Len(), size)
	}
	return r.stage(ctx, r.pre, g, f)
}

// stage runs one stage's processors in config order and collects their side outputs. A
// processor that changes the row count fails the run, unless it may resize.
func (r *run) stage(ctx context.Context, procs []processors.Processor, g int, f *frame.Frame) (*frame.Frame, []processors.SideOutput, error) {
	var sides []processors.SideOutput
	for _, p := range procs {
		res, err := processors.Run(ctx, p, g, f)
		if err != nil {
			return nil, nil, err
		}
		if res.Frame.Len() != f.Len() && !p.AllowResize() {
			return nil, nil, &ResizeError{Processor: p.Name(), Stage: string(p.Stage()), Group: g,
				Before: f.Len(), After: res.Frame.Len()}
		}
		f = res.Frame
		sides = append(sides, res.Side...)
	}
	return f, sides, nil
}

// publish sends a prepared group to the workers.
func (r *run) publish(ctx context.Context, g int, f *frame.Frame) error {
	rec := f.ToRecord(nil)
	body, err := wire.EncodeRecord(rec)
	rec.Release()
	if err != nil {
		return err
	}
	return r.c.pub.Publish(ctx, r.c.layout.GroupSubject(r.opts.RunID, g), r.msgID(g, "prepared"), nats.Header{
		wire.HeaderRun:   []string{r.opts.RunID},
		wire.HeaderGroup: []string{strconv.Itoa(g)},
	}, body)
}

func (r *run) msgID(g int, kind string) string {
	return fmt.Sprintf("%s/%d/%s/e%d", r.opts.RunID, g, kind, r.epoch)
}
