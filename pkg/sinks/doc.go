// Package sinks holds the implementations of lifecycle.Sink: where a run's finalized row groups
// and its closing metadata end up.
//
//   - Parquet writes Data Designer's artifact folder (<out>/<dataset>/parquet-files/batch_NNNNN.parquet,
//     builder_config.json, metadata.json), so its users load rowforge output as they do today.
//   - Preview stores groups as Arrow IPC in a JetStream KV bucket (rf_preview), readable with
//     ReadPreview or `nats kv get`.
//   - Memory keeps groups in memory, for tests of the code that drives a sink.
//
// Every sink is idempotent by (run, group): JetStream redelivers, so writing a group twice leaves
// one copy under the same name. A group is either wholly committed or absent; metadata is written
// last, so its presence means the run completed. The conformance suite in sinks/sinktest holds
// all of them to the same contract.
package sinks
