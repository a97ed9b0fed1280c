package lifecycle

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

// write decodes a completed group's rows and has them finished and committed off the loop:
// POST_BATCH may run a program, and the sink may be slow. The outcome is held, unacked, until
// the loop settles the group on evCommitted.
func (r *run) write(ctx context.Context, g int, st *groupState, m jetstream.Msg, o *wire.Outcome) error {
	body, err := broker.Body(ctx, r.c.res.Payloads, m)
	if err != nil {
		return r.genErr(g, fmt.Errorf("outcome from worker %s: %w", o.Worker, err))
	}
	rec, err := wire.DecodeRecord(body)
	if err != nil {
		return r.genErr(g, fmt.Errorf("outcome from worker %s: %w", o.Worker, err))
	}
	st.outcome, st.usage = m, o.Stats.Models
	sides := st.sides
	r.writes++
	r.wg.Go(func() {
		commit, err := r.finish(ctx, g, rec, sides)
		rec.Release()
		if err != nil {
			r.emit(ctx, event{kind: evFailed, group: g, err: err})
			return
		}
		r.emit(ctx, event{kind: evCommitted, group: g, commit: commit})
	})
	return nil
}

// finish finalizes a completed group — config column order, POST_BATCH — and hands it to the
// sink with its side outputs. It runs off the loop; the loop settles the group (ledger, then
// ack) once finish has returned, so the ledger never names a commit the sink has not made.
func (r *run) finish(ctx context.Context, g int, rec arrow.RecordBatch, sides []processors.SideOutput) (wire.Commit, error) {
	f, err := r.ordered(rec)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("group %d: %w", g, err)
	}
	f, post, err := r.stage(ctx, r.post, g, f)
	if err != nil {
		return wire.Commit{}, err
	}
	group := Group{Index: g, Main: f.ToRecord(nil)}
	defer group.Main.Release()
	merged, err := mergeSides(append(sides, post...))
	if err != nil {
		return wire.Commit{}, fmt.Errorf("group %d: %w", g, err)
	}
	for _, s := range merged {
		rec := s.Frame.ToRecord(nil)
		defer rec.Release()
		group.Sides = append(group.Sides, Side{Dir: s.Dir, Rec: rec})
	}
	commit, err := r.sink.WriteGroup(ctx, group)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("sink: %w", err)
	}
	return commit, nil
}

// ordered returns a worker's output in the config's column order: workers finish columns in any
// order. A worker running another config must not slip a wrong dataset into the sink, so a
// missing column is an error.
func (r *run) ordered(rec arrow.RecordBatch) (*frame.Frame, error) {
	f, err := frame.FromRecord(rec)
	if err != nil {
		return nil, err
	}
	names := r.cfg.OutputColumns()
	for _, name := range names {
		if f.Column(name) == nil {
			return nil, fmt.Errorf("worker output lacks column %q", name)
		}
	}
	return f.Select(names), nil
}

// mergeSides joins side outputs that go to the same folder (two drop_columns processors both
// preserving what they dropped) into one file per group.
func mergeSides(sides []processors.SideOutput) ([]processors.SideOutput, error) {
	var out []processors.SideOutput
	index := map[string]int{}
	for _, s := range sides {
		i, ok := index[s.Dir]
		if !ok {
			index[s.Dir] = len(out)
			out = append(out, processors.SideOutput{Dir: s.Dir, Frame: s.Frame.Select(columnNames(s.Frame))})
			continue
		}
		if out[i].Frame.Len() != s.Frame.Len() {
			return nil, fmt.Errorf("side outputs for %s have %d and %d rows", s.Dir, out[i].Frame.Len(), s.Frame.Len())
		}
		for _, c := range s.Frame.Columns() {
			if err := out[i].Frame.Put(c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func columnNames(f *frame.Frame) []string {
	names := make([]string, len(f.Columns()))
	for i, c := range f.Columns() {
		names[i] = c.Name
	}
	return names
}

// finalize writes the metadata, the run's last write, and marks the run completed.
func (r *run) finalize(ctx context.Context) error {
	meta := r.metadata()
	if err := r.sink.Finalize(ctx, meta); err != nil {
		return r.genErr(-1, fmt.Errorf("sink finalize: %w", err))
	}
	r.result.Metadata = &meta
	r.result.Status = meta.Outcome
	if err := r.setState(ctx, meta.Outcome, ""); err != nil {
		r.c.log.Warn("could not mark the run completed", "run", r.opts.RunID, "err", err)
	}
	r.cleanup(ctx)
	r.c.log.Info("run completed", "run", r.opts.RunID, "rows", r.result.Rows, "groups", len(r.result.Commits),
		"dropped_groups", r.result.Dropped)
	return nil
}

// metadata describes the dataset the run committed: its files in group order (result's commits
// are sorted here), completed, or partial when the run stopped early.
func (r *run) metadata() wire.Metadata {
	slices.SortFunc(r.result.Commits, func(a, b wire.Commit) int { return a.Group - b.Group })
	key := "parquet-files"
	if r.opts.Mode == wire.ModePreview {
		key = "preview"
	}
	files := map[string][]string{key: {}}
	for _, c := range r.result.Commits {
		files[key] = append(files[key], c.Path)
		for dir, path := range c.Sides {
			files[dir] = append(files[dir], path)
		}
	}
	meta := wire.Metadata{
		TargetNumRecords: r.opts.NumRecords, ActualNumRecords: r.result.Rows,
		TotalNumBatches: len(r.result.Commits), BufferSize: r.opts.BufferSize,
		DatasetName: r.opts.DatasetName, FilePaths: files,
		ConfigHash: r.cfg.Hash(), RunID: r.opts.RunID, Seed: r.opts.Seed,
		Outcome: wire.RunCompleted, BuilderConfig: r.cfg.JSON(), ModelUsage: r.result.Usage,
	}
	if r.partial {
		meta.Outcome = wire.RunPartial
	}
	return meta
}
