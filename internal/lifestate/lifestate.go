// Package lifestate is the start/stop state that a long-running service reports to its health
// check. The worker and sinkd each run one loop and report ready only while it runs; keeping
// the state and its errors here gives both the same transitions and messages.
package lifestate

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrNotStarted and ErrStopped are the reasons Ready gives, wrapped with the service's name,
// so that a caller can tell a service still starting from one that has ended.
var (
	ErrNotStarted = errors.New("not started")
	ErrStopped    = errors.New("stopped")
)

const (
	notStarted int32 = iota
	running
	stopped
)

// State goes from not started to running (Start) to stopped (Stop). It is safe for concurrent
// use: the health check reads it while the service's loop moves it.
type State struct {
	name string
	v    atomic.Int32
}

// New returns a State, not started, of the service called name, which prefixes Ready's errors.
func New(name string) *State { return &State{name: name} }

// Start marks the service running: it has opened what it consumes and serves.
func (s *State) Start() { s.v.Store(running) }

// Stop marks the service stopped, whether or not it was started.
func (s *State) Stop() { s.v.Store(stopped) }

// Ready is nil while the service runs; before, it wraps ErrNotStarted, and after, ErrStopped.
func (s *State) Ready() error {
	switch s.v.Load() {
	case running:
		return nil
	case stopped:
		return fmt.Errorf("%s: %w", s.name, ErrStopped)
	default:
		return fmt.Errorf("%s: %w", s.name, ErrNotStarted)
	}
}
