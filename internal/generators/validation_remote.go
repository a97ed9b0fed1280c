package generators

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/config"
)

// remoteValidator posts each batch to an HTTP endpoint, as Data Designer's remote validator
// does: {"data": [records]} in, {"data": [results]} out, retried on 429, 5xx and broken
// connections up to max_retries times, waiting retry_backoff × 2^(k-1) seconds before retry k.
type remoteValidator struct {
	url        string
	timeout    time.Duration
	maxRetries int
	backoff    float64 // seconds
	schema     *jsonschema.Schema
	client     *http.Client
	limiter    *llm.Limiter
}

// maxValidatorReply bounds what a remote validator's reply may hold.
const maxValidatorReply = 64 << 20

func newRemoteValidator(v *config.Validation, opts ValidationOptions) (validator, error) {
	r := &remoteValidator{url: v.EndpointURL, timeout: time.Duration(v.Timeout * float64(time.Second)),
		maxRetries: v.MaxRetries, backoff: v.RetryBackoff, client: opts.HTTPClient, limiter: opts.Limiter}
	if opts.Backoff > 0 {
		r.backoff *= opts.Backoff
	}
	if r.client == nil {
		r.client = http.DefaultClient
	}
	if r.limiter == nil {
		r.limiter = llm.NewLimiter(v.MaxParallelRequests)
	}
	if v.OutputSchema != nil {
		var err error
		if r.schema, err = config.CompileSchema(v.OutputSchema); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// retryable is a failure worth another attempt.
type retryable struct{ err error }

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

func (r *remoteValidator) check(ctx context.Context, batch []map[string]any) ([]map[string]any, error) {
	body, err := json.Marshal(map[string]any{"data": batch})
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		out, err := r.post(ctx, body)
		var again *retryable
		if err == nil || !errors.As(err, &again) || attempt >= r.maxRetries || ctx.Err() != nil {
			if err != nil && attempt > 0 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt+1)
			}
			return out, err
		}
		wait := time.Duration(r.backoff * float64(int(1)<<attempt) * float64(time.Second))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// post sends one request, within the endpoint's cap.
func (r *remoteValidator) post(ctx context.Context, body []byte) ([]map[string]any, error) {
	release, err := r.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	outcome := llm.Failed
	defer func() { release(outcome) }()
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, &retryable{fmt.Errorf("%s: %w", r.url, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxValidatorReply))
	if err != nil {
		return nil, &retryable{fmt.Errorf("%s: read the reply: %w", r.url, err)}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		outcome = llm.RateLimited
		return nil, &retryable{fmt.Errorf("%s answered %s", r.url, resp.Status)}
	case resp.StatusCode >= 500:
		return nil, &retryable{fmt.Errorf("%s answered %s", r.url, resp.Status)}
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("%s answered %s: %s", r.url, resp.Status, clip(string(data)))
	}
	var reply map[string]any
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, fmt.Errorf("%s answered what is not JSON: %s", r.url, clip(string(data)))
	}
	results, err := resultsOf(reply, r.schema)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.url, err)
	}
	outcome = llm.Succeeded
	return results, nil
}

// resultsOf reads a validator's reply, {"data": [results]}, checking it against output_schema
// (which, as in Data Designer, describes the whole reply) and each result's is_valid.
func resultsOf(reply map[string]any, schema *jsonschema.Schema) ([]map[string]any, error) {
	if schema != nil {
		b, err := json.Marshal(reply)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if err := schema.Validate(doc); err != nil {
			return nil, fmt.Errorf("the reply does not match output_schema: %w", err)
		}
	}
	list, ok := reply["data"].([]any)
	if !ok {
		return nil, errors.New(`the reply has no "data" list`)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		res, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("result %d is not an object", i+1)
		}
		if err := checkResult(res, nil); err != nil {
			return nil, fmt.Errorf("result %d: %w", i+1, err)
		}
		out[i] = res
	}
	return out, nil
}
