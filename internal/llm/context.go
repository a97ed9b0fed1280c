package llm

import "context"

// ctxKey keys a context value by its type: each value the package puts on a context (the
// Usage, a request's group and cell) has a type of its own.
type ctxKey[T any] struct{}

func withValue[T any](ctx context.Context, v T) context.Context {
	return context.WithValue(ctx, ctxKey[T]{}, v)
}

// valueOf is ctx's value of type T, or T's zero value.
func valueOf[T any](ctx context.Context) T {
	v, _ := ctx.Value(ctxKey[T]{}).(T)
	return v
}
