package deploy

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/progress"
	"github.com/rowforge/rowforge/pkg/wire"
)

// showProgress starts collecting the workers' progress reports of run and showing them as
// p.Progress says; stop ends both, once the last counts are shown. Without a mode it does
// nothing (a nil collector).
func showProgress(ctx context.Context, p Params, nc *nats.Conn, layout wire.Layout, run string, log *slog.Logger) (
	col *progress.Collector, stop func(), err error) {
	if p.Progress.Mode == "" || p.Progress.Mode == progress.ModeOff {
		return nil, func() {}, nil
	}
	opts := progress.CollectorOptions{Logger: log}
	initial := progress.RunProgress{}
	if p.Config != nil { // a resume learns its columns from the reports, its size from its first group
		for _, c := range p.Config.GeneratedColumns() {
			opts.Columns = append(opts.Columns, c.Name)
		}
		opts.Rows = p.Run.NumRecords
		initial.TargetRows = p.Run.NumRecords
		if size := p.Run.BufferSize; size > 0 {
			initial.Groups = lifecycle.Plan{NumRecords: p.Run.NumRecords, BufferSize: size}.Groups()
		}
	}
	col = progress.NewCollector(nc, layout, run, opts)
	col.SetRun(initial)
	if err := col.Start(); err != nil {
		return nil, nil, err
	}
	r := progress.NewRenderer(col, p.Progress)
	r.Start(ctx)
	return col, func() { r.Stop(); col.Stop() }, nil
}

// forwardProgress hands the controller's counts to the collector, whose rows and groups come
// only from the controller (the workers report cells and requests), and to p.OnProgress.
func (p Params) forwardProgress(col *progress.Collector) func(lifecycle.Progress) {
	return func(pr lifecycle.Progress) {
		if col != nil {
			col.SetRun(progress.RunProgress{Rows: pr.Rows, TargetRows: pr.TargetRows, Groups: pr.Groups,
				GroupsDone: pr.GroupsDone, GroupsDropped: pr.GroupsDropped})
		}
		if p.OnProgress != nil {
			p.OnProgress(pr)
		}
	}
}
