package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProgressRoundTrip(t *testing.T) {
	t.Parallel()
	r := &ProgressReport{Run: "r1", Worker: "host.local-12-ab", Session: "s1", Seq: 3,
		Columns: map[string]CellCounts{"text": {OK: 7, Failed: 1, Skipped: 2, Dropped: 1}},
		Models:  map[string]RequestCounts{"writer": {Sent: 9, OK: 7, Failed: 1, InFlight: 1}}}
	b, err := EncodeProgress(r)
	require.NoError(t, err)
	got, err := DecodeProgress(b)
	require.NoError(t, err)
	require.Equal(t, r, got)
	require.Equal(t, int64(11), got.Columns["text"].Done())
}

func TestDecodeProgressRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"not json", `{`, "progress report"},
		{"no run", `{"worker":"w","session":"s","seq":1}`, "run"},
		{"run with a dot", `{"run":"a.b","worker":"w","session":"s","seq":1}`, "run"},
		{"no worker", `{"run":"r","session":"s","seq":1}`, "worker"},
		{"no session", `{"run":"r","worker":"w","seq":1}`, "session"},
		{"seq 0", `{"run":"r","worker":"w","session":"s"}`, "seq"},
		{"negative cells", `{"run":"r","worker":"w","session":"s","seq":1,"columns":{"c":{"ok":-1}}}`, "negative"},
		{"negative requests", `{"run":"r","worker":"w","session":"s","seq":1,"models":{"m":{"in_flight":-2}}}`, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeProgress([]byte(tt.body))
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, r)
		})
	}
}

// The progress decoder reads what any client that may publish on rf.progress.* sends.
func FuzzDecodeProgress(f *testing.F) {
	addJSON(f,
		ProgressReport{Run: "r1", Worker: "w", Session: "s", Seq: 1},
		ProgressReport{Run: "r1", Worker: "w", Session: "s", Seq: 2,
			Columns: map[string]CellCounts{"a": {OK: 3, Failed: 1}, "b": {Skipped: 2, Dropped: 4}},
			Models:  map[string]RequestCounts{"m": {Sent: 5, OK: 3, Failed: 1, InFlight: 1}}},
		ProgressReport{Run: "r.1", Worker: "w", Session: "s", Seq: 1},
		ProgressReport{Run: "r1", Worker: "w", Session: "s", Seq: 1, Columns: map[string]CellCounts{"a": {OK: -1}}},
	)
	f.Add([]byte(`{"run":"r","worker":"w","session":"s","seq":18446744073709551615,"models":{"m":{"sent":9223372036854775807}}}`))
	f.Add([]byte(`{"run":"r","worker":"w","session":"s","seq":1,"columns":null,"models":{"":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeProgress(b)
		if err != nil {
			require.Nil(t, r)
			return
		}
		require.NoError(t, ValidToken(r.Run))
		require.NotEmpty(t, r.Worker)
		require.NotEmpty(t, r.Session)
		require.NotZero(t, r.Seq)
		for _, c := range r.Columns {
			require.GreaterOrEqual(t, min(c.OK, c.Failed, c.Skipped, c.Dropped), int64(0))
		}
		for _, m := range r.Models {
			require.GreaterOrEqual(t, min(m.Sent, m.OK, m.Failed, m.InFlight), int64(0))
		}
		// What decodes encodes and decodes again to the same report.
		again, err := EncodeProgress(r)
		require.NoError(t, err)
		r2, err := DecodeProgress(again)
		require.NoError(t, err)
		require.Equal(t, r, r2)
	})
}
