package jsx

import (
	"context"

	"github.com/nats-io/nats.go"
)

// OnReconnect calls fn, in a goroutine of its own, each time nc reconnects, until ctx ends or
// stop is called; stop returns once that goroutine has. A single server's restart loses its
// memory buckets: what a process keeps there, or knows of them, must be set right again.
func OnReconnect(ctx context.Context, nc *nats.Conn, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	reconnected := nc.StatusChanged(nats.CONNECTED)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer nc.RemoveStatusListener(reconnected)
		for {
			select {
			case <-ctx.Done():
				return
			case <-reconnected:
				fn(ctx)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
