package sinkd

import "github.com/rowforge/rowforge/internal/lifecycle"

// UseSink makes s write the groups of run to sink, as if it had opened it itself, so that a
// test can watch (and hold) the writes sinkd makes.
func (s *Service) UseSink(run string, sink lifecycle.Sink, dir string) {
	rs := &runSink{sink: sink, dir: dir}
	rs.once.Do(func() {})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sinks[run] = rs
}

// DiscardWaiting reports whether a discard of run is waiting for the writes in progress: the
// run's lock has a writer (only discard takes it exclusively) pending while readers hold it.
func (s *Service) DiscardWaiting(run string) bool {
	s.mu.Lock()
	rs := s.sinks[run]
	s.mu.Unlock()
	if rs == nil {
		return false
	}
	if rs.mu.TryRLock() { // fails once a writer holds or waits for the lock
		rs.mu.RUnlock()
		return false
	}
	return true
}
