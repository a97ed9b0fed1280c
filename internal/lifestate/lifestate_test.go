package lifestate_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifestate"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	s := lifestate.New("svc")
	require.ErrorIs(t, s.Ready(), lifestate.ErrNotStarted)
	require.EqualError(t, s.Ready(), "svc: not started")

	s.Start()
	require.NoError(t, s.Ready())

	s.Stop()
	require.ErrorIs(t, s.Ready(), lifestate.ErrStopped)
	require.EqualError(t, s.Ready(), "svc: stopped")

	s.Stop() // twice: still stopped
	require.EqualError(t, s.Ready(), "svc: stopped")
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	s := lifestate.New("svc")
	s.Stop()
	require.EqualError(t, s.Ready(), "svc: stopped")
}

// TestConcurrentUse is for -race: the health check reads while the loop moves the state.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := lifestate.New("svc")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				_ = s.Ready()
			}
		})
	}
	s.Start()
	s.Stop()
	wg.Wait()
	require.ErrorIs(t, s.Ready(), lifestate.ErrStopped)
}
