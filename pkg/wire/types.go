package wire

import "encoding/json"

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
	Outcome          string              `json:"outcome"` // completed (later: partial)
	// BuilderConfig is written beside the metadata as builder_config.json.
	BuilderConfig json.RawMessage `json:"-"`
}
