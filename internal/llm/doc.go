// Package llm calls models on OpenAI-compatible chat-completions endpoints for LLM columns, and
// owns everything between a cell and the endpoint: which provider serves a model alias, how many
// requests may be in flight (a share of the model's max_parallel_requests, shrunk on 429s and
// grown back — AIMD), retries with backoff that honour Retry-After, the patience after which a
// model that only fails stops the run, and the token counts each group spent.
//
// Retries and admission live here and nowhere else, as in Data Designer's request admission:
// the scheduler above sees a reply, an error that drops the row, or an error that fails the run.
package llm
