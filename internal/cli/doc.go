// Package cli is the command-line contract shared by rowforge's commands (controller, worker,
// sinkd): how a command runs and exits, which error gives which exit code, and the text a
// command prints for its results — preview records, run summaries, the status tables. It does
// not reach a deployment; package deploy does, and its typed errors are mapped here.
package cli
