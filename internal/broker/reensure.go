package broker

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/pkg/wire"
)

// EnsureOnReconnect ensures the layout again each time nc reconnects, until stop is called. A
// single server's restart loses its memory buckets (worker records, seats, previews), and only
// a process allowed to create them — the controller — can bring them back; without the seats
// bucket no worker could send a capped model request again. A failure is logged: the run goes
// on, and the next reconnect tries again.
func EnsureOnReconnect(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, l wire.Layout, log *slog.Logger) (stop func()) {
	return jsx.OnReconnect(ctx, nc, func(ctx context.Context) {
		if _, err := Ensure(ctx, js, l); err != nil {
			if ctx.Err() == nil {
				log.Warn("could not re-create the deployment's resources after a reconnect", "err", err)
			}
			return
		}
		log.Info("deployment's resources ensured after a reconnect")
	})
}
