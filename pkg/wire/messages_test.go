package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validRunRecord() RunRecord {
	return RunRecord{ID: "9f86d081884c", State: RunRunning, Mode: ModeBuild, Config: json.RawMessage(`{"columns":[]}`),
		NumRecords: 100, BufferSize: 10, Seed: 42, DatasetName: "ds",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestDecodeRunRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(r *RunRecord)
		wantErr string
	}{
		{"valid build", func(*RunRecord) {}, ""},
		{"valid preview", func(r *RunRecord) { r.Mode = ModePreview }, ""},
		{"zero records", func(r *RunRecord) { r.NumRecords = 0 }, ""},
		{"aborted with reason", func(r *RunRecord) { r.State, r.Reason = RunAborted, "operator" }, ""},
		{"no id", func(r *RunRecord) { r.ID = "" }, "no id"},
		{"dotted id", func(r *RunRecord) { r.ID = "v1.2" }, "id"},
		{"wildcard id", func(r *RunRecord) { r.ID = "*" }, "id"},
		{"no mode", func(r *RunRecord) { r.Mode = "" }, "unknown mode"},
		{"unknown mode", func(r *RunRecord) { r.Mode = "rebuild" }, "unknown mode"},
		{"zero buffer", func(r *RunRecord) { r.BufferSize = 0 }, "bad sizes"},
		{"negative buffer", func(r *RunRecord) { r.BufferSize = -1 }, "bad sizes"},
		{"negative records", func(r *RunRecord) { r.NumRecords = -1 }, "bad sizes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := validRunRecord()
			tt.edit(&want)
			b, err := json.Marshal(want)
			require.NoError(t, err)
			got, err := DecodeRunRecord(b)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, *got)
			require.Equal(t, want.State == RunRunning, got.Active())
		})
	}
}

func TestDecodeRunRecordMalformed(t *testing.T) {
	t.Parallel()
	for _, b := range []string{``, `null`, `[]`, `{`, `{"id":5}`, `{"id":"r","mode":"build","buffer_size":"x"}`,
		`{"id":"r","mode":"build","buffer_size":1e400}`, `{"id":"r","mode":"build","buffer_size":1,"seed":-1}`,
		`{"id":"r","mode":"build","buffer_size":1,"config":}`} {
		_, err := DecodeRunRecord([]byte(b))
		require.Error(t, err, b)
	}
}

func TestRunRecordActive(t *testing.T) {
	t.Parallel()
	for state, active := range map[RunState]bool{RunRunning: true, RunAborting: false, RunAborted: false,
		RunFailed: false, RunCompleted: false, "": false} {
		r := RunRecord{State: state}
		require.Equal(t, active, r.Active(), string(state))
	}
}

func TestDecodeControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       *Control
		wantErr    string
	}{
		{"abort", `{"op":"abort","reason":"wrong config"}`, &Control{Op: OpAbort, Reason: "wrong config"}, ""},
		{"abort without reason", `{"op":"abort"}`, &Control{Op: OpAbort}, ""},
		{"unknown fields ignored", `{"op":"abort","x":1}`, &Control{Op: OpAbort}, ""},
		{"unknown op", `{"op":"pause"}`, nil, `unknown op "pause"`},
		{"op case matters", `{"op":"ABORT"}`, nil, `unknown op "ABORT"`},
		{"no op", `{"reason":"x"}`, nil, `unknown op ""`},
		{"empty object", `{}`, nil, "unknown op"},
		{"null", `null`, nil, "unknown op"},
		{"plain text", `abort`, nil, "control message"},
		{"empty", ``, nil, "control message"},
		{"wrong type", `{"op":1}`, nil, "control message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeControl([]byte(tt.body))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       *GroupStats
		wantErr    bool
	}{
		{"full", `{"rows":10,"dropped":2,"columns":{"a":{"generated":10,"failed":2,"retried":3}}}`,
			&GroupStats{Rows: 10, Dropped: 2, Columns: map[string]ColumnStats{"a": {Generated: 10, Failed: 2, Retried: 3}}}, false},
		{"empty", `{}`, &GroupStats{}, false},
		{"negative rows", `{"rows":-1}`, nil, true},
		{"negative dropped", `{"rows":1,"dropped":-1}`, nil, true},
		{"bad json", `{"rows":`, nil, true},
		{"wrong type", `{"rows":"ten"}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeStats([]byte(tt.body))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeFinalize(t *testing.T) {
	t.Parallel()
	in := Finalize{
		Metadata: Metadata{TargetNumRecords: 100, ActualNumRecords: 98, TotalNumBatches: 10, BufferSize: 10,
			DatasetName: "ds", FilePaths: map[string][]string{"parquet-files": {"batch_00000.parquet"}},
			ConfigHash: "abc", RunID: "r1", Seed: 7, Outcome: RunCompleted},
		BuilderConfig: json.RawMessage(`{"columns":[{"name":"a"}]}`),
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	got, err := DecodeFinalize(b)
	require.NoError(t, err)
	require.JSONEq(t, string(in.BuilderConfig), string(got.Metadata.BuilderConfig), "the builder config travels beside the metadata")
	in.Metadata.BuilderConfig = got.Metadata.BuilderConfig
	require.Equal(t, in.Metadata, got.Metadata)

	for _, bad := range []string{`{}`, `{"metadata":{}}`, `{"metadata":{"run_id":""}}`, `{`, `null`, `{"metadata":[]}`} {
		_, err := DecodeFinalize([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestDecodeSinkCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       *SinkCommit
		wantErr    bool
	}{
		{"commit", `{"group":3,"rows":10,"path":"batch_00003.parquet","dir":"/out/ds"}`,
			&SinkCommit{Commit: Commit{Group: 3, Rows: 10, Path: "batch_00003.parquet"}, Dir: "/out/ds"}, false},
		{"error", `{"group":3,"error":"disk full"}`, &SinkCommit{Commit: Commit{Group: 3}, Error: "disk full"}, false},
		{"empty", `{}`, &SinkCommit{}, false},
		{"negative group", `{"group":-1}`, nil, true},
		{"negative rows", `{"rows":-1}`, nil, true},
		{"bad json", `{"group":`, nil, true},
		{"wrong type", `{"group":"3"}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeSinkCommit([]byte(tt.body))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
