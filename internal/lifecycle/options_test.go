package lifecycle

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/wire"
)

// The options a run records are the options its resume runs with: every recorded option goes
// through the record and back, through JSON as on the broker.
func TestOptionsRecord(t *testing.T) {
	t.Parallel()

	roundTrip := func(t *testing.T, opts Options, seed *wire.SeedInfo) (wire.RunRecord, Options) {
		t.Helper()
		rec := opts.record(seed, 7)
		body, err := json.Marshal(rec)
		require.NoError(t, err)
		var back wire.RunRecord
		require.NoError(t, json.Unmarshal(body, &back))
		return rec, optionsFromRecord(&back)
	}

	t.Run("EveryRecordedOptionRoundTrips", func(t *testing.T) {
		t.Parallel()
		opts := Options{RunID: "0a1b2c3d4e5f", Mode: wire.ModePreview, NumRecords: 1234, BufferSize: 50,
			MaxConcurrentRowGroups: 3, Seed: 42, DatasetName: "people",
			ShutdownErrorRate: 0.25, ShutdownErrorWindow: 40, DisableEarlyShutdown: true, AllowPartial: true,
			Providers:   []wire.Provider{{Name: "local", Endpoint: "http://127.0.0.1:1/v1"}},
			SeedBaseDir: "/data/seeds", Assets: "/data/assets",
			StartedAt: time.Date(2026, 12, 7, 1, 35, 0, 0, time.UTC)}
		seed := &wire.SeedInfo{BaseDir: opts.SeedBaseDir, Rows: 130,
			Columns: []wire.SeedColumn{{Name: "ticket", Type: "int"}}}
		rec, got := roundTrip(t, opts, seed)

		require.Equal(t, wire.RunRunning, rec.State)
		require.Equal(t, 7, rec.Progress.Groups)
		require.Equal(t, seed, rec.SeedData)
		want := opts
		want.seedRows = 130 // a resume checks the seed still has the rows the run started with
		require.Equal(t, want, got)
	})

	t.Run("DefaultsAreRecordedNotReapplied", func(t *testing.T) {
		t.Parallel()
		opts := Options{NumRecords: 10}
		opts.setDefaults()
		rec, got := roundTrip(t, opts, nil)
		require.Nil(t, rec.SeedData)
		require.Equal(t, opts, got, "a resume must not draw a new run id or start date")
	})

	t.Run("RecordWithoutEarlyShutdownGetsDefaults", func(t *testing.T) {
		t.Parallel()
		// A record written before early shutdown was recorded.
		got := optionsFromRecord(&wire.RunRecord{ID: "0a1b2c3d4e5f", NumRecords: 10,
			CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		require.Equal(t, 0.5, got.ShutdownErrorRate)
		require.Equal(t, 10, got.ShutdownErrorWindow)
		require.False(t, got.DisableEarlyShutdown)
		require.Equal(t, 1000, got.BufferSize)
		require.Equal(t, wire.ModeBuild, got.Mode)
	})
}
