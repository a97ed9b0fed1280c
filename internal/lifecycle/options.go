package lifecycle

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/seeddata"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Options describe one run.
type Options struct {
	RunID                  string // default: a new id (NewRunID)
	Mode                   string // wire.ModeBuild (default) or wire.ModePreview
	NumRecords             int
	BufferSize             int // rows per group; default 1000
	MaxConcurrentRowGroups int // admission window, the memory bound; default 16 (see claims)
	Seed                   uint64
	DatasetName            string // default "dataset"

	// Early shutdown, with Data Designer's meaning: the run stops once ShutdownErrorRate of the
	// last ShutdownErrorWindow generation tasks failed (defaults 0.5 and 10).
	ShutdownErrorRate    float64
	ShutdownErrorWindow  int
	DisableEarlyShutdown bool
	// AllowPartial keeps the committed groups when the gate trips and writes metadata marked
	// partial; without it the gate fails the run.
	AllowPartial bool
	// Providers are model providers from a providers file; the workers resolve a model's
	// provider from the config's model_providers first, then these, then the built-in ones.
	Providers []wire.Provider
	// SeedData is the config's seed dataset, opened (by whoever learned its columns to parse
	// the config); Run opens it from SeedBaseDir when nil.
	SeedData *seeddata.Dataset
	// SeedBaseDir is where the seed's relative paths resolve: the directory the config was
	// loaded in ("": the working directory). A resumed run reads the seed from there again.
	SeedBaseDir string
	// Assets is the managed-assets folder person samplers read their datasets from (""
	// looks where persons.NewSource says).
	Assets string
	// StartedAt is when the run started (default now): ages count to its date.
	StartedAt time.Time
	// Samplers draw the run's sampler columns; Run builds them (BuildSamplers) when nil.
	Samplers *generators.Samplers

	seedRows int64 // a resumed run's recorded seed rows, which the seed must still have
}

func (o *Options) setDefaults() {
	if o.RunID == "" {
		o.RunID = NewRunID()
	}
	if o.Mode == "" {
		o.Mode = wire.ModeBuild
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1000
	}
	if o.MaxConcurrentRowGroups <= 0 {
		o.MaxConcurrentRowGroups = 16
	}
	if o.DatasetName == "" {
		o.DatasetName = "dataset"
	}
	if o.ShutdownErrorRate <= 0 {
		o.ShutdownErrorRate = 0.5
	}
	if o.ShutdownErrorWindow <= 0 {
		o.ShutdownErrorWindow = 10
	}
	if o.StartedAt.IsZero() {
		o.StartedAt = time.Now().UTC()
	}
}

// record is the run record a new run starts with: its options, recorded so that a resume runs
// it as it was started (optionsFromRecord reads them back). seed is what openSeed learned of
// the seed dataset (nil without one); groups is the plan's group count. The caller sets Config.
func (o *Options) record(seed *wire.SeedInfo, groups int) wire.RunRecord {
	return wire.RunRecord{
		ID: o.RunID, State: wire.RunRunning, Mode: o.Mode, NumRecords: o.NumRecords,
		BufferSize: o.BufferSize, Seed: o.Seed, DatasetName: o.DatasetName, CreatedAt: o.StartedAt,
		MaxConcurrentRowGroups: o.MaxConcurrentRowGroups,
		EarlyShutdown: &wire.EarlyShutdown{Rate: o.ShutdownErrorRate, Window: o.ShutdownErrorWindow,
			Disabled: o.DisableEarlyShutdown, AllowPartial: o.AllowPartial},
		Providers: o.Providers, SeedData: seed, Assets: o.Assets,
		Progress: wire.RunProgress{Groups: groups},
	}
}

// optionsFromRecord reads back the options Options.record wrote, with their defaults set: a
// resumed run runs with the options it was started with. The seed dataset is not opened here;
// SeedBaseDir says where it is, and seedRows how many rows it must still have.
func optionsFromRecord(rec *wire.RunRecord) Options {
	o := Options{RunID: rec.ID, Mode: rec.Mode, NumRecords: rec.NumRecords, BufferSize: rec.BufferSize,
		MaxConcurrentRowGroups: rec.MaxConcurrentRowGroups, Seed: rec.Seed, DatasetName: rec.DatasetName,
		Providers: rec.Providers, StartedAt: rec.CreatedAt, Assets: rec.Assets}
	if rec.SeedData != nil {
		o.SeedBaseDir, o.seedRows = rec.SeedData.BaseDir, rec.SeedData.Rows
	}
	if es := rec.EarlyShutdown; es != nil {
		o.ShutdownErrorRate, o.ShutdownErrorWindow = es.Rate, es.Window
		o.DisableEarlyShutdown, o.AllowPartial = es.Disabled, es.AllowPartial
	}
	o.setDefaults()
	return o
}

// NewRunID returns a short id that is a valid subject token and KV key, and short enough for an
// operator to type.
func NewRunID() string {
	id := uuid.New()
	return fmt.Sprintf("%x", id[:6])
}
