package lifecycle

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Sink takes the finalized row groups of one run. Build runs write Parquet, previews an
// in-memory bucket; the controller does not know which. JetStream redelivers, so every method
// is idempotent: writing a group twice leaves one copy, under the same names.
type Sink interface {
	// WriteGroup makes group g durable — its side datasets first, its main dataset last, so a
	// main file that exists is a whole group — and returns only once it is. The sink does not
	// keep the records.
	WriteGroup(ctx context.Context, g Group) (wire.Commit, error)
	// Finalize writes the run's metadata. The controller calls it once, after every group is
	// committed; it is the last write of a run.
	Finalize(ctx context.Context, meta wire.Metadata) error
	// Discard removes what a failed or aborted run left half-written. Committed groups stay.
	Discard(ctx context.Context) error
}

// Group is one finalized row group: the dataset's rows (dropped rows and columns already
// removed) and the side datasets processors made from it.
type Group struct {
	Index int
	Main  arrow.RecordBatch
	Sides []Side
}

// Side is a processor's side dataset for one group, written under Dir in the dataset folder
// (for example "dropped-columns-parquet-files" or "processors-files/<name>"), named like the
// group's main file.
type Side struct {
	Dir string
	Rec arrow.RecordBatch
}
