package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Headers rowforge sets on its messages.
const (
	HeaderRun     = "Rf-Run"
	HeaderGroup   = "Rf-Group"
	HeaderStatus  = "Rf-Status"  // outcome status
	HeaderError   = "Rf-Error"   // the failure of a failed outcome
	HeaderWorker  = "Rf-Worker"  // who produced an outcome
	HeaderPayload = "Rf-Payload" // object-store name of an offloaded body
	HeaderDigest  = "Rf-Digest"  // SHA-256 of an offloaded body, hex
	HeaderStats   = "Rf-Stats"   // an outcome's GroupStats, JSON
)

// RunState is a run's state in the rf_runs bucket. The bucket is the truth; the control
// broadcast is only the fast path.
type RunState string

const (
	RunRunning   RunState = "running"
	RunAborting  RunState = "aborting"
	RunAborted   RunState = "aborted"
	RunFailed    RunState = "failed"
	RunCompleted RunState = "completed"
	// RunPartial is a run the error-rate gate stopped early whose committed groups were kept
	// (--allow-partial). Its metadata says so.
	RunPartial RunState = "partial"
)

// Ended reports whether the run's controller has finished with it: nothing will change it again.
func (s RunState) Ended() bool { return s != RunRunning && s != RunAborting }

// Run modes: what the sink does with finalized groups.
const (
	ModeBuild   = "build"
	ModePreview = "preview"
)

// RunRecord is a run's entry in rf_runs: its state and everything a worker or sink needs to
// take part (the config travels as JSON, which is valid YAML).
type RunRecord struct {
	ID          string          `json:"id"`
	State       RunState        `json:"state"`
	Mode        string          `json:"mode"`
	Config      json.RawMessage `json:"config"`
	NumRecords  int             `json:"num_records"`
	BufferSize  int             `json:"buffer_size"`
	Seed        uint64          `json:"seed"`
	DatasetName string          `json:"dataset_name"`
	Reason      string          `json:"reason,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	// The rest of the run's options, so that `controller resume` runs it as it was started.
	MaxConcurrentRowGroups int            `json:"max_concurrent_row_groups,omitempty"`
	EarlyShutdown          *EarlyShutdown `json:"early_shutdown,omitempty"`
	// Epoch counts the controllers that have owned the run: 0 for the one that started it, one
	// more for each resume. A controller whose epoch is no longer the record's has been
	// replaced and stops; its messages' ids carry its epoch so that the broker's duplicate
	// window never swallows a resumed controller's messages as a dead one's repeats.
	Epoch int `json:"epoch,omitempty"`
	// Providers come from the controller's --providers file; the config's own model_providers
	// win over them, and they over the built-in ones.
	Providers []Provider `json:"providers,omitempty"`
	// SeedData is set when the config has a seed_config.
	SeedData *SeedInfo `json:"seed_data,omitempty"`
	// Assets is the managed-assets folder the controller's person samplers read ("" when it
	// looked in the default places).
	Assets string `json:"assets,omitempty"`
	// Progress is updated by the controller as groups end.
	Progress RunProgress `json:"progress"`
}

// EarlyShutdown is the run's error-rate gate (lifecycle.Options has the meaning).
type EarlyShutdown struct {
	Rate         float64 `json:"rate"`
	Window       int     `json:"window"`
	Disabled     bool    `json:"disabled,omitempty"`
	AllowPartial bool    `json:"allow_partial,omitempty"`
}

// RunProgress counts a run's row groups and rows so far.
type RunProgress struct {
	Groups     int `json:"groups"`
	GroupsDone int `json:"groups_done"`
	Dropped    int `json:"groups_dropped"`
	Rows       int `json:"rows"`
}

// Active reports whether work for the run should still be done.
func (r *RunRecord) Active() bool { return r.State == RunRunning }

// DecodeRunRecord parses a run record and checks the fields every reader depends on.
func DecodeRunRecord(b []byte) (*RunRecord, error) {
	var r RunRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	switch {
	case r.ID == "":
		return nil, errors.New("run record: no id")
	case ValidToken(r.ID) != nil: // every reader builds subjects from it
		return nil, fmt.Errorf("run record: id: %w", ValidToken(r.ID))
	case r.Mode != ModeBuild && r.Mode != ModePreview:
		return nil, fmt.Errorf("run record %s: unknown mode %q", r.ID, r.Mode)
	case r.BufferSize <= 0 || r.NumRecords < 0:
		return nil, fmt.Errorf("run record %s: bad sizes (num_records %d, buffer_size %d)", r.ID, r.NumRecords, r.BufferSize)
	}
	return &r, nil
}

// ReplyID is the Nats-Msg-Id of the reply to m (a worker's outcome, a sink's commit): m's own
// id with kind appended, else fallback. A redelivered request gets a reply the stream drops as a
// duplicate; a request published again under a new id — by a resumed controller — gets a reply
// of its own.
func ReplyID(m jetstream.Msg, kind, fallback string) string {
	if h := m.Headers(); h != nil {
		if id := h.Get(jetstream.MsgIDHeader); id != "" {
			return id + "/" + kind
		}
	}
	return fallback
}

// Control is a message on rf.control.<run>, typed by operators:
//
//	nats pub rf.control.<run> '{"op":"abort","reason":"wrong config"}'
type Control struct {
	Op     string `json:"op"`
	Reason string `json:"reason,omitempty"`
}

// OpAbort is the only control operation so far.
const OpAbort = "abort"

// DecodeControl parses a control message; an unknown op is an error naming it.
func DecodeControl(b []byte) (*Control, error) {
	var c Control
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	if c.Op != OpAbort {
		return nil, fmt.Errorf("control message: unknown op %q (want %q)", c.Op, OpAbort)
	}
	return &c, nil
}

// GroupStats travel with an outcome: the counts of the group's rows and per-column tasks.
type GroupStats struct {
	Rows    int                    `json:"rows"`
	Dropped int                    `json:"dropped"`
	Columns map[string]ColumnStats `json:"columns,omitempty"`
	// Models counts the group's model requests and tokens by alias.
	Models map[string]ModelUsage `json:"models,omitempty"`
}

// ColumnStats mirrors scheduler.ColumnStats on the wire.
type ColumnStats struct {
	Generated int `json:"generated"`
	Failed    int `json:"failed"`
	Retried   int `json:"retried"`
	Skipped   int `json:"skipped,omitempty"`
}

// DecodeStats parses the stats of an outcome.
func DecodeStats(b []byte) (*GroupStats, error) {
	var s GroupStats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("group stats: %w", err)
	}
	if s.Rows < 0 || s.Dropped < 0 {
		return nil, fmt.Errorf("group stats: negative counts")
	}
	return &s, nil
}

// Finalize is the body of a sink's finalize message.
type Finalize struct {
	Metadata      Metadata        `json:"metadata"`
	BuilderConfig json.RawMessage `json:"builder_config"`
}

// DecodeFinalize parses a finalize message.
func DecodeFinalize(b []byte) (*Finalize, error) {
	var f Finalize
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("finalize message: %w", err)
	}
	if f.Metadata.RunID == "" {
		return nil, errors.New("finalize message: no run_id")
	}
	f.Metadata.BuilderConfig = f.BuilderConfig
	return &f, nil
}

// SinkCommit is a sink's reply to a group or finalize message: the commit, or the error that
// prevented it (a full disk fails the run instead of hanging it).
type SinkCommit struct {
	Commit
	Dir   string `json:"dir,omitempty"` // the dataset folder, for the CLI to print
	Error string `json:"error,omitempty"`
}

// DecodeSinkCommit parses a sink commit.
func DecodeSinkCommit(b []byte) (*SinkCommit, error) {
	var c SinkCommit
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("sink commit: %w", err)
	}
	if c.Group < 0 || c.Rows < 0 {
		return nil, errors.New("sink commit: negative group or rows")
	}
	return &c, nil
}

// WorkerRecord is a worker's entry in rf_workers: its heartbeat (the bucket's TTL expires the
// entry of a worker that stopped beating), the groups it has in flight and its demand, by run. A controller
// that aborts a run waits until no live worker lists a group of it.
type WorkerRecord struct {
	ID       string           `json:"id"`
	InFlight map[string][]int `json:"in_flight,omitempty"`
	// Demand is the worker's requests for each capped endpoint (a model alias, or a remote
	// validator's "validator:<column>"), in flight and waiting, by run: the workers share each
	// endpoint's seats by it.
	Demand  map[string]map[string]int `json:"demand,omitempty"`
	Updated time.Time                 `json:"updated"`
}

// DecodeWorkerRecord parses a worker record.
func DecodeWorkerRecord(b []byte) (*WorkerRecord, error) {
	var w WorkerRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("worker record: %w", err)
	}
	return &w, nil
}

// WorkerKey turns a worker id (often a host name) into a valid rf_workers key.
func WorkerKey(id string) string {
	b := []byte(id)
	for i, c := range b {
		ok := c == '-' || c == '_' || c == '=' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// MaxDeliveriesSubject is where the server announces a prepared group that exhausted its
// deliveries on the workers' consumer.
func (l Layout) MaxDeliveriesSubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + l.GroupsStream() + "." + WorkersConsumer
}

// SinkMaxDeliveriesSubject is where the server announces a finalized group (or a finalize)
// that exhausted its deliveries on sinkd's consumer.
func (l Layout) SinkMaxDeliveriesSubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + l.SinkStream() + "." + SinkdConsumer
}

// MaxDeliveries is the part of the server's max-deliveries advisory rowforge reads.
type MaxDeliveries struct {
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// DecodeMaxDeliveries parses a max-deliveries advisory.
func DecodeMaxDeliveries(b []byte) (*MaxDeliveries, error) {
	var a MaxDeliveries
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("max-deliveries advisory: %w", err)
	}
	if a.StreamSeq == 0 {
		return nil, errors.New("max-deliveries advisory: no stream_seq")
	}
	return &a, nil
}
