package processors

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// dropColumns removes the columns its patterns select.
type dropColumns struct {
	base
	patterns []string
	preserve bool
}

func newDropColumns(b base, p *config.Processor) (*dropColumns, error) {
	if len(p.ColumnNames) == 0 {
		return nil, fmt.Errorf("processor %q: drop_columns needs column_names", p.Name)
	}
	return &dropColumns{base: b, patterns: slices.Clone(p.ColumnNames), preserve: p.PreserveDroppedColumns}, nil
}

// Process selects the columns of in that a pattern matches (config.MatchColumn). One that
// matches nothing in this group is not an error: the config checked that each pattern
// matches a column of the config, and an earlier processor may have removed it. The dropped
// columns go to the side output DroppedColumnsDir when the processor preserves them and
// there are any.
func (p *dropColumns) Process(ctx context.Context, group int, in *frame.Frame) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, p.fail(group, err)
	}
	if in == nil {
		return Result{}, p.fail(group, errors.New("nil frame"))
	}
	var keep, drop []string
	for _, c := range in.Columns() {
		if slices.ContainsFunc(p.patterns, func(pat string) bool { return config.MatchColumn(pat, c.Name) }) {
			drop = append(drop, c.Name)
		} else {
			keep = append(keep, c.Name)
		}
	}
	res := Result{Frame: in.Select(keep)}
	if p.preserve && len(drop) > 0 {
		res.Side = []SideOutput{{Dir: DroppedColumnsDir, Frame: in.Select(drop)}}
	}
	return res, nil
}
