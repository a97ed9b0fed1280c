// Package llmstub is a stand-in for an OpenAI-compatible chat-completions endpoint, for tests
// and benchmarks that must not call a real model.
//
// rowforge's LLM columns talk to models through the OpenAI chat-completions API
// (github.com/openai/openai-go/v3 pointed at a base URL). A [Stub] is a [net/http.Handler]
// that answers POST {any prefix}/chat/completions in that wire format, and lets a test
//
//   - shape the timing: a fixed [Options.Latency] plus random [Options.Jitter], an
//     [Options.Gate] channel that holds every request until the test releases it, and per-request
//     [Fault.Delay];
//   - inject failures with [Options.Faults]: HTTP errors with an OpenAI-style error body and an
//     optional Retry-After header, a 200 whose body is not a chat completion (cut off, an HTML
//     page, empty, JSON without choices), a reply with another Content-Type, or a 200 whose
//     structured content does not match the requested JSON schema ([FaultEvery] and
//     [FaultFirst] cover the common cases);
//   - inspect what happened: [Stub.Stats] (requests, outcomes, exact in-flight and peak
//     in-flight counts, token usage), [Stub.Concurrency] (the in-flight count over time),
//     [Stub.Requests] (every parsed request body) and [Stub.Wait] to block, without sleeping,
//     until the counters reach a state.
//
// Unless [Options.Reply] says otherwise, replies are deterministic: for a response_format of
// type json_schema the content is a JSON document generated from the schema that validates
// against it; for json_object it is a small JSON object; otherwise it is "Reply to: " followed by
// the start of the last user message.
//
// In a test:
//
//	stub := llmstub.New(llmstub.Options{
//		Faults: llmstub.FaultFirst(1, llmstub.Fault{Status: 429, RetryAfter: time.Second}),
//	})
//	baseURL := stub.Start(t) // e.g. "http://127.0.0.1:40123/v1", closed when the test ends
//	client := openai.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey("test"))
//	// ... run the code under test ...
//	st := stub.Stats() // st.Requests, st.Failed, st.PeakInFlight, ...
//
// Outside tests (for example from a small main run as a child process), [Stub.Listen] serves the
// stub on a TCP address and returns a [Server] with the base URL and a Close method.
package llmstub
