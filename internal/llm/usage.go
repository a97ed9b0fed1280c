package llm

import (
	"context"
	"maps"
	"sync"
)

// ModelUsage counts what one model was asked and answered.
type ModelUsage struct {
	Requests         int64 `json:"requests"`          // attempts sent, retries included
	Failed           int64 `json:"failed"`            // attempts that did not give a usable reply
	PromptTokens     int64 `json:"prompt_tokens"`     // as the endpoint reported them
	CompletionTokens int64 `json:"completion_tokens"` // as the endpoint reported them
}

// Add adds o to u.
func (u *ModelUsage) Add(o ModelUsage) {
	u.Requests += o.Requests
	u.Failed += o.Failed
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
}

// Usage accumulates ModelUsage by model alias. A worker gives each group its own, in the
// context of the group's generator calls, and sends it with the group's outcome.
type Usage struct {
	mu      sync.Mutex
	byModel map[string]ModelUsage
}

// WithUsage returns ctx carrying u: every request made under it is counted in u.
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return withValue(ctx, u)
}

func (u *Usage) add(model string, d ModelUsage) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byModel == nil {
		u.byModel = map[string]ModelUsage{}
	}
	m := u.byModel[model]
	m.Add(d)
	u.byModel[model] = m
}

// Snapshot returns the counts so far, by alias; nil when nothing was counted.
func (u *Usage) Snapshot() map[string]ModelUsage {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.byModel) == 0 {
		return nil
	}
	return maps.Clone(u.byModel)
}
