package lifecycle

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rowforge/rowforge/pkg/wire"
)

// Sink takes the finalized row groups of one run. Build runs write Parquet, previews an
// in-memory bucket; the controller does not know which. JetStream redelivers, so every method
// is idempotent: writing a group twice leaves one copy, under the same name.
type Sink interface {
	// WriteGroup makes group g durable and returns only once it is. rec is the finalized group
	// (dropped rows and dropped columns already removed); the sink does not keep it.
	WriteGroup(ctx context.Context, group int, rec arrow.RecordBatch) (wire.Commit, error)
	// Finalize writes the run's metadata. The controller calls it once, after every group is
	// committed; it is the last write of a run.
	Finalize(ctx context.Context, meta wire.Metadata) error
	// Discard removes what a failed or aborted run left half-written. Committed groups stay.
	Discard(ctx context.Context) error
}
