// Package scheduler runs every generation task of one prepared, fixed-size row group and reports
// an explicit outcome. It is the worker's engine and deliberately knows nothing else: no I/O, no
// processors, no sinks, no build-or-preview. Everything around a group — seeds, processors,
// finalization, retries across workers — belongs to the controller (internal/lifecycle).
//
// The pieces follow Data Designer's async engine: a static execution Graph of columns, a
// Tracker that turns completions into newly ready tasks, the frame as the row buffer, and
// Run, a single-threaded event loop that owns the tracker and the buffer while a bounded pool
// of goroutines calls generators.
package scheduler
