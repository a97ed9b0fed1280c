package llm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llm"
)

// Observers tells every observer of every attempt, and leaves nil ones out.
func TestObservers(t *testing.T) {
	t.Parallel()
	a, b := &recorder{}, &recorder{}
	o := llm.Observers(a, nil, b)
	o.InFlight("m", 1)
	o.Request("m", llm.Succeeded, 3, 4)
	o.InFlight("m", -1)
	for _, r := range []*recorder{a, b} {
		require.Equal(t, []observed{{"m", llm.Succeeded, 3, 4}}, r.requests)
		require.Equal(t, 1, r.peak)
		require.Equal(t, 0, r.inFlight["m"])
	}
	require.Same(t, a, llm.Observers(nil, a), "one observer is itself")
	llm.Observers().InFlight("m", 1) // none: a no-op
}
