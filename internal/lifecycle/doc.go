// Package lifecycle is the AsyncRunController: it owns a run's row groups from plan to metadata.
// It partitions the records into groups, admits a bounded window of them, materializes their
// seed columns, runs PRE_BATCH, checks the size, publishes the prepared groups for workers,
// collects their outcomes, runs POST_BATCH, hands finalized groups to a Sink and writes the
// metadata only after every group is committed. Build and preview differ only by the Sink.
//
// One file per job: controller.go starts (Run) and takes over (Resume) runs; options.go holds
// a run's options and their run record; run.go the run's state and its loop, which owns that
// state; admit.go admission (prepare, PRE_BATCH, publish); outcome.go the workers' outcomes;
// commit.go POST_BATCH, the sink write and the metadata; settle.go the end of a group;
// shutdown.go stopping a run and cleaning up after it.
//
// Every group ends through settle, whichever way it ended, in one order: the ledger first, then
// the outcome's ack, then the result, then the bookkeeping. A controller killed between any two
// steps leaves a run that Resume finishes without generating a group twice.
package lifecycle
