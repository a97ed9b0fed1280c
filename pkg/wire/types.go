package wire

import (
	"encoding/json"

	"github.com/rowforge/rowforge/pkg/config"
)

// Commit is a sink's word that a finalized group is durable.
type Commit struct {
	Group int    `json:"group"`
	Rows  int    `json:"rows"`
	Path  string `json:"path"` // where the group went, relative to the dataset folder (or a KV key)
	// Sides maps each side dataset's folder to where the group's side file went.
	Sides map[string]string `json:"sides,omitempty"`
}

// Metadata is the run's closing record: Data Designer's metadata.json keys plus rowforge's own.
// It is written only after every group is committed.
type Metadata struct {
	TargetNumRecords int                 `json:"target_num_records"`
	ActualNumRecords int                 `json:"actual_num_records"`
	TotalNumBatches  int                 `json:"total_num_batches"`
	BufferSize       int                 `json:"buffer_size"`
	DatasetName      string              `json:"dataset_name"`
	FilePaths        map[string][]string `json:"file_paths"`
	ConfigHash       string              `json:"config_hash"`
	RunID            string              `json:"run_id"`
	Seed             uint64              `json:"seed"`
	Outcome          RunState            `json:"outcome"` // completed or partial
	// ModelUsage counts requests and tokens by model alias (runs with LLM columns).
	ModelUsage map[string]ModelUsage `json:"model_usage,omitempty"`
	// BuilderConfig is written beside the metadata as builder_config.json.
	BuilderConfig json.RawMessage `json:"-"`
}

// ModelUsage counts what one model was asked and answered (llm.ModelUsage on the wire).
type ModelUsage struct {
	Requests         int64 `json:"requests"`
	Failed           int64 `json:"failed"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// AddUsage adds each model's usage in from to into.
func AddUsage(into *map[string]ModelUsage, from map[string]ModelUsage) {
	for k, u := range from {
		if *into == nil {
			*into = map[string]ModelUsage{}
		}
		t := (*into)[k]
		t.Requests += u.Requests
		t.Failed += u.Failed
		t.PromptTokens += u.PromptTokens
		t.CompletionTokens += u.CompletionTokens
		(*into)[k] = t
	}
}

// SeedInfo is what a run's record keeps of its seed dataset: where the controller resolved
// its relative paths (a resumed controller reads the seed from there) and its columns
// (workers parse the config with them and never read the seed).
type SeedInfo struct {
	BaseDir string       `json:"base_dir"`
	Columns []SeedColumn `json:"columns"`
	// Rows is how many rows the selection took: a resume over a seed of another size would
	// hand its groups other rows than the run's first controller did.
	Rows int64 `json:"rows"`
}

// SeedColumn is a seed dataset's column: its name and its type (str, int, float or bool).
type SeedColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ConfigProviders returns ps as the config's providers.
func ConfigProviders(ps []Provider) []*config.Provider {
	out := make([]*config.Provider, len(ps))
	for i, p := range ps {
		out[i] = &config.Provider{Name: p.Name, Endpoint: p.Endpoint, ProviderType: p.ProviderType, APIKey: p.APIKey,
			ExtraHeaders: p.ExtraHeaders, ExtraBody: p.ExtraBody}
	}
	return out
}

// Provider is a model provider a run carries in its record (from the controller's --providers
// file). APIKey is the name of an environment variable, resolved on each worker, or the key.
type Provider struct {
	Name         string `json:"name"`
	Endpoint     string `json:"endpoint"`
	ProviderType string `json:"provider_type,omitempty"`
	APIKey       string `json:"api_key,omitempty"`
	// ExtraHeaders and ExtraBody are Data Designer's: sent with every request.
	ExtraHeaders map[string]string `json:"extra_headers,omitempty"`
	ExtraBody    map[string]any    `json:"extra_body,omitempty"`
}
