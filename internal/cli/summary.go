package cli

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// The lines a run prints on stderr. Its stdout is left to its data (a preview's records), so
// that a pipe gets the data and a terminal both; the last line is the summary a script greps.

// WriteRunStarted says where the run runs and how an operator can abort it without this
// process: a controller that hangs must still be stoppable.
func WriteRunStarted(w io.Writer, id string, numRecords int, seed uint64, url, controlSubject string) {
	fmt.Fprintf(w, "run %s started: %d records, seed %d, server %s\n", id, numRecords, seed, url)
	fmt.Fprintf(w, "  abort with: nats pub --server %s %s '{\"op\":\"abort\",\"reason\":\"...\"}'\n", url, controlSubject)
}

// WriteResuming says which server the resumed run continues on.
func WriteResuming(w io.Writer, id, url string) {
	fmt.Fprintf(w, "run %s resuming on server %s\n", id, url)
}

// WritePreviewSummary is a preview's closing line.
func WritePreviewSummary(w io.Writer, res *lifecycle.Result, took time.Duration) {
	fmt.Fprintf(w, "run %s %s: %d records previewed (%d groups dropped) in %s\n",
		res.RunID, res.Status, res.Rows, res.Dropped, took.Round(time.Millisecond))
}

// WriteBuildSummary is a build's closing line, then its model usage. The peak memory is there
// because the controller's must not grow with the number of records.
func WriteBuildSummary(w io.Writer, res *lifecycle.Result, numRecords int, dir string, took time.Duration) {
	fmt.Fprintf(w, "run %s %s: %d of %d records in %d groups (%d groups dropped) in %s, peak memory %d MiB; dataset %s\n",
		res.RunID, res.Status, res.Rows, numRecords, len(res.Commits), res.Dropped, took.Round(time.Millisecond),
		PeakRSS()>>20, dir)
	WriteUsage(w, res.Usage)
}

// WriteResumeSummary is a resumed run's closing line, then its model usage.
func WriteResumeSummary(w io.Writer, res *lifecycle.Result, dir string, took time.Duration) {
	fmt.Fprintf(w, "run %s %s: %d records in %d groups (%d groups dropped; %d groups had ended before the resume) in %s; dataset %s\n",
		res.RunID, res.Status, res.Rows, len(res.Commits), res.Dropped, res.Resumed,
		took.Round(time.Millisecond), dir)
	WriteUsage(w, res.Usage)
}

// WriteUsage prints a line per model, by alias: what the run asked and what it cost in tokens.
func WriteUsage(w io.Writer, usage map[string]wire.ModelUsage) {
	aliases := make([]string, 0, len(usage))
	for a := range usage {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	for _, a := range aliases {
		u := usage[a]
		fmt.Fprintf(w, "  model %s: %d requests (%d failed and retried or dropped), %d prompt + %d completion tokens\n",
			a, u.Requests, u.Failed, u.PromptTokens, u.CompletionTokens)
	}
}
