package llm

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiterNeverAdmitsMoreThanItsLimit(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3)
	var releases []func(Outcome)
	for range 3 {
		r, err := l.Acquire(context.Background())
		require.NoError(t, err)
		releases = append(releases, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(ctx)
		if err == nil {
			r(Succeeded)
		}
		got <- err
	}()
	require.Equal(t, 3, l.State().InFlight)
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "a fourth request waits until its context ends")

	waiting := make(chan func(Outcome))
	go func() {
		r, err := l.Acquire(context.Background())
		if err != nil {
			panic(err)
		}
		waiting <- r
	}()
	releases[0](Succeeded)
	releases[0](Succeeded) // a second release is ignored
	r := <-waiting
	require.Equal(t, 3, l.State().InFlight)
	r(Succeeded)
	releases[1](Succeeded)
	releases[2](Succeeded)
	require.Zero(t, l.State().InFlight)
}

func TestLimiterAIMD(t *testing.T) {
	t.Parallel()
	l := NewLimiter(8)
	clock := time.Unix(1000, 0)
	l.now = func() time.Time { return clock }
	do := func(o Outcome) {
		r, err := l.Acquire(context.Background())
		require.NoError(t, err)
		r(o)
	}
	do(RateLimited)
	require.Equal(t, 6.0, l.State().Limit, "a 429 multiplies the limit by 0.75")
	do(RateLimited)
	require.Equal(t, 6.0, l.State().Limit, "a burst of 429s shrinks it once")
	clock = clock.Add(decreaseCooldown)
	do(RateLimited)
	require.Equal(t, 4.5, l.State().Limit)
	do(Failed)
	require.Equal(t, 4.5, l.State().Limit, "other failures change nothing")
	for range successesToIncrease {
		do(Succeeded)
	}
	require.Equal(t, 5.5, l.State().Limit, "25 successes grow it by one")
	for range 10 * successesToIncrease {
		do(Succeeded)
	}
	require.Equal(t, 8.0, l.State().Limit, "never past the ceiling")

	for range 20 {
		clock = clock.Add(decreaseCooldown)
		do(RateLimited)
	}
	require.Equal(t, 1.0, l.State().Limit, "never below one")
}

func TestLimiterCeilingFollowsTheShare(t *testing.T) {
	t.Parallel()
	l := NewLimiter(10)
	l.SetCeiling(4)
	require.Equal(t, LimiterState{Ceiling: 4, Limit: 4}, l.State())
	l.SetCeiling(6)
	require.Equal(t, LimiterState{Ceiling: 6, Limit: 6}, l.State(), "a limit at its ceiling follows it up")

	r, err := l.Acquire(context.Background())
	require.NoError(t, err)
	r(RateLimited) // 4.5
	l.SetCeiling(8)
	require.Equal(t, 4.5, l.State().Limit, "a throttled limit grows back on its own")

	l.SetCeiling(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.Acquire(ctx)
	require.Error(t, err, "a share of zero admits nothing")
}
