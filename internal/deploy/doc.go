// Package deploy is how rowforge's commands reach a deployment and act on it. The client
// flags become a NATS connection and a layout; a run is driven on the deployment (or on an
// embedded one: local mode) from the models' health check to the preview read back; an
// operator aborts runs and lists them; a long-running service (worker, sinkd) connects and
// serves. It knows nothing of exit codes or of how results are printed: its errors say what
// went wrong (FlagError, RunIDError, HealthCheckError…) and package cli decides what the
// command does with them.
package deploy
