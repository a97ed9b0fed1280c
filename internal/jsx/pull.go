// Package jsx holds the JetStream plumbing shared by rowforge's services.
package jsx

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FetchWait is how long one pull request waits for a message. It also bounds how long after
// its stop a service still receives a message (see PullEach): a service hands those back with
// this delay, so that they go to another instance.
const FetchWait = 2 * time.Second

// ErrAbandonFetches, as the cause of a PullEach context's cancellation, ends fetches in
// progress at once instead of letting them run out: for when the server goes away as well (a
// local deployment stopping), where no request can outlive its service.
var ErrAbandonFetches = errors.New("abandon fetches: the deployment is stopping")

// PullEach runs slots loops that each fetch one message when they are free and hand it to
// handle. Nothing is pulled ahead: a message's AckWait starts when a slot is ready for it
// (nats.go's Consume pre-buffers by default, which redelivers long work needlessly).
//
// When ctx ends, a fetch in progress is not abandoned but runs to its expiry: an abandoned pull
// request stays open on the server and a message delivered into it waits a whole AckWait
// before anyone else may have it. handle then receives a message with ctx already done and must
// hand it back. PullEach returns when every fetch has ended and every handle call returned.
func PullEach(ctx context.Context, cons jetstream.Consumer, slots int, log *slog.Logger, handle func(context.Context, jetstream.Msg)) {
	PullGated(ctx, cons, slots, nil, log, handle)
}

// PullGated is PullEach where slot i fetches only once ready(ctx, i) returns: a service takes
// on more work only while it has room for it (nil: always ready). ready returns when ctx ends;
// the func it returns, if not nil, is called once the fetch has a message or ended without one.
//
// PullGated does not recover panics: only handle knows what its message is and how to settle
// it, so handle recovers its own (the worker's in its executor's hold). A panic that gets here
// ends the process, and with it every message the other slots hold.
func PullGated(ctx context.Context, cons jetstream.Consumer, slots int, ready func(ctx context.Context, slot int) (fetched func()),
	log *slog.Logger, handle func(context.Context, jetstream.Msg)) {
	var wg sync.WaitGroup
	for slot := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fetched := func() {}
				if ready != nil {
					if f := ready(ctx, slot); f != nil {
						fetched = f
					}
					if ctx.Err() != nil {
						fetched()
						return
					}
				}
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FetchWait)
				stopWatch := context.AfterFunc(ctx, func() {
					if errors.Is(context.Cause(ctx), ErrAbandonFetches) {
						cancel()
					}
				})
				start := time.Now()
				batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
				if err != nil {
					fetched()
					stopWatch()
					cancel()
					if ctx.Err() == nil {
						log.Warn("fetch failed", "err", err)
						Pause(ctx, time.Second)
					}
					continue
				}
				got := 0
				for m := range batch.Messages() {
					if got++; got == 1 {
						fetched()
					}
					handle(ctx, m)
				}
				if got == 0 {
					fetched()
				}
				stopWatch()
				cancel()
				// A fetch that ends at once with nothing — the stream has no leader, the server
				// answers with an error status — must not turn into a loop that keeps a
				// recovering cluster busy.
				if got == 0 && ctx.Err() == nil && time.Since(start) < FetchWait/2 {
					log.Warn("fetch returned at once with no message; pausing", "err", batch.Error())
					Pause(ctx, time.Second)
				}
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

// Retry hands m back for another delivery later, and later again after each delivery that
// failed: 1 s after the first, doubling up to RetryMaxDelay. A message handed back at once while
// what it needs is away (a server restarting, a stream electing a leader) would be redelivered
// at once too, and spend every delivery its consumer allows in a burst.
func Retry(m jetstream.Msg) {
	_ = m.NakWithDelay(RetryDelay(m))
}

// RetryMaxDelay bounds Retry's delay.
const RetryMaxDelay = 30 * time.Second

// RetryDelay is how long Retry holds m back.
func RetryDelay(m jetstream.Msg) time.Duration {
	n := uint64(1)
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 0 {
		n = md.NumDelivered
	}
	if n > 6 { // 1 s << 5 already exceeds the bound
		return RetryMaxDelay
	}
	return min(time.Second<<(n-1), RetryMaxDelay)
}

// Every calls fn every d until ctx ends, in a goroutine of its own; the returned channel is
// closed once that goroutine has returned, so its owner can wait for it.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return done
}

// Watch calls fn with each entry of kv — the current values, then every change — in a
// goroutine of its own, until ctx ends or stop is called; stop returns once that goroutine has.
// The marker that ends the current values is not passed on.
//
// After nc reconnects, Watch watches again from the current values: a single server's restart
// loses its memory buckets, and a watch of one never delivers again, even once the bucket is
// created anew (nats.go v1.55.0). So fn may see a value again, and must take one it has seen as
// no change. While the bucket is missing, Watch retries with backoff.
func Watch(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue, fn func(jetstream.KeyValueEntry)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	reconnected := nc.StatusChanged(nats.CONNECTED)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer nc.RemoveStatusListener(reconnected)
		for w != nil {
			again := deliver(ctx, w, reconnected, fn)
			stopWatcher(w)
			if !again {
				return
			}
			w = rewatch(ctx, kv)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// deliver passes w's entries to fn until nc reconnects (true), or ctx ends or w closes (false).
func deliver(ctx context.Context, w jetstream.KeyWatcher, reconnected <-chan nats.Status, fn func(jetstream.KeyValueEntry)) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-reconnected:
			return true
		case e, ok := <-w.Updates():
			if !ok {
				return false
			}
			if e != nil {
				fn(e)
			}
		}
	}
}

// rewatch opens a new watch of kv once its bucket is there again (a controller or `controller
// setup` creates it); nil when ctx ends first.
func rewatch(ctx context.Context, kv jetstream.KeyValue) jetstream.KeyWatcher {
	delay := 100 * time.Millisecond
	for {
		if w, err := kv.WatchAll(ctx); err == nil {
			return w
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// stopWatcher unsubscribes w and drains its updates until nats.go closes them: its delivery
// goroutine may be blocked sending to the full channel, and would stay so. The drain gives up
// after a while, rather than hang a stop on a connection that went away.
func stopWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	giveUp := time.NewTimer(5 * time.Second)
	defer giveUp.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-giveUp.C:
			return
		}
	}
}
