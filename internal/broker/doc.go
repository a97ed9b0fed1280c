// Package broker is rowforge's I/O on a JetStream server: it creates a deployment's streams,
// consumers and buckets from the layout's specs (wire.Layout: Ensure, for controller setup and
// the controller), looks them up without creating anything (Lookup, for workers and sinkd,
// whose users hold no administration rights), publishes bodies too large for a
// message through the object store, reads the ledger, and purges what a run or group leaves
// behind. The wire package says what goes over the broker; this one moves it.
package broker
