// Package servicetest runs a long-running service (a worker, a sink daemon) in a test.
package servicetest

import (
	"context"
	"sync"
	"testing"
)

// Start runs run in its own goroutine until the returned stop is called or the test ends.
// stop cancels run's context, waits for it to return and fails the test if it returned an
// error; it is safe to call more than once.
func Start(t testing.TB, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service returned: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
