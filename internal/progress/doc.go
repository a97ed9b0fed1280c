// Package progress shows a run's progress while its groups are still open: cells per column
// and model requests per model, counted by the workers and shown on the controller's terminal.
//
// The flow:
//
//   - A worker holds one Reporter. Each run it takes part in has a Counter: the scheduler
//     tells it of every cell it resolves (through a Group, one per delivery of a row group) and
//     the run's models tell it of every request (Counter is an llm.Observer). The Reporter
//     publishes each run's counts on core NATS (wire.Layout.ProgressSubject) at most every
//     500 ms and only when they changed, and at once when the worker's last group of the run
//     ends. The counts are cumulative, so a lost report costs nothing.
//   - The controller holds one Collector per run: it keeps the latest report of each worker
//     (by session and sequence number) and sums them into a Snapshot, beside the groups and
//     rows the controller itself has seen end.
//   - A Renderer draws snapshots: mpb bars on a terminal, an slog line every few seconds
//     otherwise (Mode).
//
// Progress is a display, not an account: a group handed back to another worker takes its cells
// off its first worker's counts, but a worker that dies keeps what it had reported, so a column
// may briefly show more cells than rows. Datasets are counted by the controller
// (lifecycle.Result), never from here.
package progress
