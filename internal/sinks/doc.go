// Package sinks holds the implementations of lifecycle.Sink: where a run's finalized row groups
// and its closing metadata end up.
//
//   - Parquet writes Data Designer's artifact folder (<out>/<dataset>/parquet-files/batch_NNNNN.parquet,
//     each side dataset as <out>/<dataset>/<Side.Dir>/batch_NNNNN.parquet, builder_config.json,
//     metadata.json), so its users load rowforge output as they do today.
//   - Preview stores groups and their sides as Arrow IPC in a JetStream KV bucket (rf_preview),
//     readable with ReadPreview, ReadPreviewSides or `nats kv get`.
//   - Memory keeps groups and their sides in memory, for tests of the code that drives a sink.
//
// Every sink is idempotent by (run, group): JetStream redelivers, so writing a group twice leaves
// one copy under the same names. A group's sides are written before its main record, so a main
// record that is stored is a whole group; metadata is written last, so its presence means the
// run completed. Every sink refuses the same invalid groups and side folders (ErrInvalidGroup,
// ErrEmptyGroup, ErrInvalidSide) before writing anything. The conformance suite in
// sinks/sinktest holds all of them to the same contract.
package sinks
