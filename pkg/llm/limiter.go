package llm

import (
	"context"
	"math"
	"sync"
	"time"
)

// AIMD parameters, Data Designer's defaults (RunConfig.request_admission).
const (
	decreaseFactor      = 0.75            // on a 429
	successesToIncrease = 25              // successes in a row before the limit grows by one
	decreaseCooldown    = 2 * time.Second // a burst of 429s shrinks the limit once
)

// Limiter admits requests to one model: never more in flight than its limit, which is at most
// its ceiling — this process's share of the model's max_parallel_requests. A 429 multiplies the
// limit by 0.75 (once per burst), successes grow it back by one at a time. Requests wait in
// Acquire, not in a queue of their own: whoever is ready when a slot frees takes it.
type Limiter struct {
	mu           sync.Mutex
	ceiling      int
	limit        float64
	inFlight     int
	successes    int
	lastDecrease time.Time
	freed        chan struct{} // closed and replaced whenever a slot may have freed
	now          func() time.Time
}

// NewLimiter returns a limiter whose ceiling (and starting limit) is ceiling.
func NewLimiter(ceiling int) *Limiter {
	return &Limiter{ceiling: ceiling, limit: float64(ceiling), freed: make(chan struct{}), now: time.Now}
}

// Outcome is how an admitted request ended, as the limiter cares.
type Outcome int

const (
	Succeeded   Outcome = iota
	RateLimited         // 429: shrink
	Failed              // any other failure: neither shrink nor grow
)

// Acquire waits for a slot. The caller must call the returned release exactly once.
func (l *Limiter) Acquire(ctx context.Context) (release func(Outcome), err error) {
	for {
		l.mu.Lock()
		if l.inFlight < l.allowed() {
			l.inFlight++
			l.mu.Unlock()
			var once sync.Once
			return func(o Outcome) { once.Do(func() { l.release(o) }) }, nil
		}
		wait := l.freed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-wait:
		}
	}
}

// allowed is the whole number of requests the limit admits: at least one while the ceiling is
// positive, so that a model throttled hard still makes progress.
func (l *Limiter) allowed() int {
	if l.ceiling <= 0 {
		return 0
	}
	return max(1, int(math.Floor(l.limit)))
}

func (l *Limiter) release(o Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	switch o {
	case Succeeded:
		if l.successes++; l.successes >= successesToIncrease {
			l.successes = 0
			l.limit = min(float64(l.ceiling), l.limit+1)
		}
	case RateLimited:
		l.successes = 0
		if now := l.now(); now.Sub(l.lastDecrease) >= decreaseCooldown {
			l.lastDecrease = now
			l.limit = max(1, l.limit*decreaseFactor)
		}
	}
	l.wake()
}

func (l *Limiter) wake() {
	close(l.freed)
	l.freed = make(chan struct{})
}

// SetCeiling changes this process's share (a worker joined or left). A limit at the old ceiling
// follows it up; one that 429s had lowered grows back on its own.
func (l *Limiter) SetCeiling(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit >= float64(l.ceiling) || l.limit > float64(n) {
		l.limit = float64(n)
	}
	l.ceiling = n
	l.wake()
}

// LimiterState is a snapshot for logs, tests and metrics.
type LimiterState struct {
	Ceiling, InFlight int
	Limit             float64
}

// State returns the limiter's current state.
func (l *Limiter) State() LimiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterState{Ceiling: l.ceiling, InFlight: l.inFlight, Limit: l.limit}
}
