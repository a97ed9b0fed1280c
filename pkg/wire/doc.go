// Package wire is the contract between rowforge's processes: the names of every JetStream
// subject, stream, consumer and bucket, the message types that travel on them, and their
// encodings. Row-group bodies are Arrow IPC (a finalized group on its way to the sink is a small
// container of IPC streams: the dataset's rows and the processors' side datasets); control
// messages are JSON so that people can type them with the nats CLI. Bodies larger than the server's max payload travel through the object
// store; Publisher and Body hide that from callers.
//
// Every decoder here may be handed bytes from anyone who can publish on a rowforge subject, so
// each returns an error (never panics) on malformed input and has a fuzz target.
package wire
