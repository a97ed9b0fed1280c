package config

import "time"

// LLM column types (Data Designer's `column_type`).
const (
	TypeLLMText       = "llm-text"
	TypeLLMCode       = "llm-code"
	TypeLLMStructured = "llm-structured"
	TypeLLMJudge      = "llm-judge"
)

// IsLLM reports whether a column type calls a model.
func IsLLM(columnType string) bool {
	switch columnType {
	case TypeLLMText, TypeLLMCode, TypeLLMStructured, TypeLLMJudge:
		return true
	}
	return false
}

// LLM holds the fields of an LLM column (Column.LLM; nil for other types).
type LLM struct {
	ModelAlias   string
	Prompt       string // Jinja template over other columns
	SystemPrompt string // Jinja template; "" for none
	// CodeLang is llm-code's language (Data Designer's CodeLang: python, go, sql:postgres, …).
	CodeLang string
	// OutputFormat is llm-structured's JSON schema, as the config wrote it.
	OutputFormat map[string]any
	// Scores are llm-judge's rubric; the column's value is a JSON object with one entry per score.
	Scores []Score
	// MaxConversationRestarts is how many times a reply that fails validation (llm-structured,
	// llm-judge, llm-code without code) is asked again before the row is dropped (default 5).
	MaxConversationRestarts int
}

// Score is one criterion of an llm-judge column.
type Score struct {
	Name        string
	Description string
	// Options maps each allowed score (keys are strings, as Data Designer normalizes them) to
	// what it means.
	Options map[string]string
}

// Model is a `model_configs` entry: an alias columns name, the model and its provider.
type Model struct {
	Alias    string
	Model    string // the model name the endpoint expects
	Provider string // a Provider's Name
	Params   InferenceParams
}

// InferenceParams are a model's `inference_parameters` (chat-completion).
type InferenceParams struct {
	Temperature *Distribution // nil: the endpoint's default
	TopP        *Distribution
	MaxTokens   int // 0: the endpoint's default
	// MaxParallelRequests caps the requests in flight to this model for the whole run, across
	// every worker (default 4).
	MaxParallelRequests int
	Timeout             time.Duration // per request; 0: no timeout of its own
	ExtraBody           map[string]any
}

// Distribution is a number, or a distribution a number is drawn from for each request
// (`{distribution_type: uniform, params: {low, high}}` or `{distribution_type: manual,
// params: {values, weights}}`).
type Distribution struct {
	Fixed   *float64
	Uniform *[2]float64 // low, high (low < high)
	Values  []float64   // manual
	Weights []float64   // manual; nil: uniform; normalized to sum 1
}

// Provider is a model provider, as in Data Designer's providers file.
type Provider struct {
	Name         string
	Endpoint     string // base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1
	ProviderType string // "openai"
	// APIKey is the name of an environment variable holding the key, or the key itself.
	APIKey string
}
