package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rowforge/rowforge/pkg/wire"
)

// WriteStatus prints the runs and the live workers as two aligned tables, times in the
// operator's zone.
func WriteStatus(w io.Writer, runs []*wire.RunRecord, workers []*wire.WorkerRecord) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATE\tMODE\tGROUPS\tROWS\tSTARTED\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", r.ID, r.State, r.Mode,
			r.Progress.GroupsDone, r.Progress.Groups, r.Progress.Rows, r.NumRecords,
			r.CreatedAt.Local().Format(time.DateTime), r.Reason)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "WORKER\tLAST HEARTBEAT\tIN FLIGHT")
	for _, wk := range workers {
		var groups []string
		for _, run := range slices.Sorted(maps.Keys(wk.InFlight)) { // the same order at every call
			groups = append(groups, fmt.Sprintf("%s:%v", run, wk.InFlight[run]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", wk.ID, wk.Updated.Local().Format(time.TimeOnly), strings.Join(groups, " "))
	}
	return tw.Flush()
}
