// Package lifecycle is the AsyncRunController: it owns a run's row groups from plan to metadata.
// It partitions the records into groups, admits a bounded window of them, materializes their
// seed columns, runs PRE_BATCH, checks the size, publishes the prepared groups for workers,
// collects their outcomes, runs POST_BATCH, hands finalized groups to a Sink and writes the
// metadata only after every group is committed. Build and preview differ only by the Sink.
package lifecycle
