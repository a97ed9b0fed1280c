// Command controller runs rowforge datasets: it owns each run's row groups from plan to
// metadata. With no --nats-url (nor NATS_URL) it runs everything in one process.
package main

import "github.com/rowforge/rowforge/internal/cli"

func main() { cli.Main(newRoot()) }
