// Package jsx holds the JetStream plumbing shared by rowforge's services.
package jsx

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PullEach runs slots loops that each fetch one message when they are free and hand it to
// handle. Nothing is pulled ahead: a message's AckWait starts when a slot is ready for it
// (nats.go's Consume pre-buffers by default, which redelivers long work needlessly). PullEach
// returns when ctx ends and every handle call has returned.
func PullEach(ctx context.Context, cons jetstream.Consumer, slots int, log *slog.Logger, handle func(context.Context, jetstream.Msg)) {
	var wg sync.WaitGroup
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
				if err != nil {
					cancel()
					if ctx.Err() == nil {
						log.Warn("fetch failed", "err", err)
						Pause(ctx, time.Second)
					}
					continue
				}
				for m := range batch.Messages() {
					handle(ctx, m)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
}

// Pause waits d or until ctx ends.
func Pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Term terminates a message that no retry can fix, with the reason in the server's advisory and
// in the log.
func Term(log *slog.Logger, m jetstream.Msg, reason string) {
	log.Warn("terminated a message", "subject", m.Subject(), "reason", reason)
	_ = m.TermWithReason(reason)
}
