package config

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// fixedSeed stands for a seed reader: it records the SeedConfig it was asked about and
// answers with cols.
func fixedSeed(cols ...SeedColumn) (Option, *[]*SeedConfig) {
	var (
		mu    sync.Mutex
		asked []*SeedConfig
	)
	return WithSeedColumns(func(sc *SeedConfig) ([]SeedColumn, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, sc)
		return cols, nil
	}), &asked
}

func TestSeedConfig(t *testing.T) {
	t.Parallel()
	opt, asked := fixedSeed(SeedColumn{"diagnosis", frame.String}, SeedColumn{"age", frame.Int})
	cfg, err := Parse([]byte(`
seed_config:
  source: {seed_type: local, path: data/*.parquet}
  sampling_strategy: shuffle
  selection_strategy: {start: 10, end: 19}
columns:
  - {name: id, column_type: sampler, sampler_type: uuid}
  - {name: summary, column_type: expression, expr: "{{ diagnosis }} at {{ age }}"}
`), opt)
	require.NoError(t, err)
	require.Len(t, *asked, 1)
	require.Equal(t, &SeedConfig{
		Source:    SeedSource{Type: SeedLocal, Path: "data/*.parquet", FilePattern: "*", Recursive: true, Encoding: "utf-8", Endpoint: DefaultHFEndpoint},
		Sampling:  SamplingShuffle,
		Selection: &Selection{Start: 10, End: 19},
	}, cfg.Seed)
	var names []string
	for _, c := range cfg.Columns {
		names = append(names, c.Name+":"+c.Type)
	}
	require.Equal(t, []string{"diagnosis:seed-dataset", "age:seed-dataset", "id:sampler", "summary:expression"}, names)
	require.Equal(t, frame.Int, cfg.Column("age").Output)
	require.Equal(t, []string{"diagnosis", "age", "id"}, columnNames(cfg.SeedColumns()))
	require.Equal(t, []string{"id"}, columnNames(cfg.SamplerColumns()))
	require.Equal(t, []string{"summary"}, columnNames(cfg.GeneratedColumns()))

	// A worker parses the run's config with the columns the controller read.
	again, err := Parse(cfg.Source, WithSeedColumns(KnownSeedColumns([]SeedColumn{{"diagnosis", frame.String}, {"age", frame.Int}})))
	require.NoError(t, err)
	require.Equal(t, cfg.Order, again.Order)
}

func columnNames(cols []*Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name)
	}
	return out
}

func TestSeedConfigSources(t *testing.T) {
	t.Parallel()
	opt, _ := fixedSeed(SeedColumn{"x", frame.String})
	for _, tc := range []struct {
		source string
		want   SeedSource
	}{
		{"{seed_type: hf, path: datasets/org/repo/data.csv, token: HF_TOKEN}",
			SeedSource{Type: SeedHF, Path: "datasets/org/repo/data.csv", Token: "HF_TOKEN", Endpoint: DefaultHFEndpoint, FilePattern: "*", Recursive: true, Encoding: "utf-8"}},
		{"{seed_type: directory, path: docs, file_pattern: '*.md', recursive: false}",
			SeedSource{Type: SeedDirectory, Path: "docs", FilePattern: "*.md", Recursive: false, Encoding: "utf-8", Endpoint: DefaultHFEndpoint}},
		{"{seed_type: file_contents, path: docs, encoding: latin-1}",
			SeedSource{Type: SeedFileContents, Path: "docs", FilePattern: "*", Recursive: true, Encoding: "latin-1", Endpoint: DefaultHFEndpoint}},
	} {
		cfg, err := Parse([]byte("seed_config: {source: "+tc.source+"}\ncolumns: []"), opt)
		require.NoError(t, err, tc.source)
		require.Equal(t, tc.want, cfg.Seed.Source)
		require.Equal(t, SamplingOrdered, cfg.Seed.Sampling)
		require.Nil(t, cfg.Seed.Selection)
	}
	cfg, err := Parse([]byte("seed_config: {source: {seed_type: local, path: x.csv}, selection_strategy: {}}\ncolumns: []"), opt)
	require.NoError(t, err)
	require.Equal(t, &Selection{Partitions: 1}, cfg.Seed.Selection, "an empty selection is one partition, as in Data Designer")
}

func TestSeedConfigErrors(t *testing.T) {
	t.Parallel()
	opt, _ := fixedSeed(SeedColumn{"topic", frame.String})
	failing := WithSeedColumns(func(*SeedConfig) ([]SeedColumn, error) { return nil, errors.New("open data.csv: no such file") })
	const local = "{seed_type: local, path: data.csv}"
	for _, tc := range []struct {
		name, doc     string
		opt           Option
		column, field string
		msg           string
	}{
		{"no seed reader", "seed_config: {source: " + local + "}\ncolumns: []", nil, "", "seed_config", "columns are not known here"},
		{"unreadable seed", "seed_config: {source: " + local + "}\ncolumns: [{name: a, column_type: expression, expr: '{{ topic }}'}]", failing, "", "seed_config.source", "open data.csv: no such file"},
		{"seed_type missing", "seed_config: {source: {path: x}}\ncolumns: []", opt, "", "seed_config.source.seed_type", "required"},
		{"seed_type unknown", "seed_config: {source: {seed_type: s3, path: x}}\ncolumns: []", opt, "", "seed_config.source.seed_type", `unknown seed_type "s3"`},
		{"agent_rollout", "seed_config: {source: {seed_type: agent_rollout, format: codex}}\ncolumns: []", opt, "", "seed_config.source.seed_type", "agent_rollout is not supported"},
		{"df", "seed_config: {source: {seed_type: df}}\ncolumns: []", opt, "", "seed_config.source.seed_type", "df.to_parquet"},
		{"path missing", "seed_config: {source: {seed_type: local}}\ncolumns: []", opt, "", "seed_config.source.path", "required"},
		{"unknown source key", "seed_config: {source: {seed_type: directory, path: d, file_patern: '*.md'}}\ncolumns: []", opt, "", "seed_config.source.file_patern", `did you mean "file_pattern"?`},
		{"local has no pattern", "seed_config: {source: {seed_type: local, path: d, recursive: true}}\ncolumns: []", opt, "", "seed_config.source.recursive", `unknown key "recursive"`},
		{"pattern with a folder", "seed_config: {source: {seed_type: directory, path: d, file_pattern: 'a/*.md'}}\ncolumns: []", opt, "", "seed_config.source.file_pattern", "file names, not relative paths"},
		{"sampling", "seed_config: {source: " + local + ", sampling_strategy: random}\ncolumns: []", opt, "", "seed_config.sampling_strategy", `unknown sampling_strategy "random"`},
		{"range start after end", "seed_config: {source: " + local + ", selection_strategy: {start: 5, end: 4}}\ncolumns: []", opt, "", "seed_config.selection_strategy.start", "must be at most end"},
		{"range end missing", "seed_config: {source: " + local + ", selection_strategy: {start: 5}}\ncolumns: []", opt, "", "seed_config.selection_strategy.end", "required"},
		{"partition index", "seed_config: {source: " + local + ", selection_strategy: {index: 2, num_partitions: 2}}\ncolumns: []", opt, "", "seed_config.selection_strategy.index", "must be less than num_partitions"},
		{"both selections", "seed_config: {source: " + local + ", selection_strategy: {start: 0, end: 1, index: 0}}\ncolumns: []", opt, "", "seed_config.selection_strategy", "not keys of both"},
		{"collision", "seed_config: {source: " + local + "}\ncolumns: [{name: topic, column_type: sampler, sampler_type: uuid}]", opt, "", "seed_config", "seed dataset column(s) topic collide"},
		{"seed-dataset without seed", "columns: [{name: topic, column_type: seed-dataset}]", opt, "topic", "column_type", "needs a seed_config"},
		{"seed-dataset not in seed", "seed_config: {source: " + local + "}\ncolumns: [{name: topik, column_type: seed-dataset}]", opt, "topik", "column_type", `not a column of the seed dataset (its columns: topic)`},
		{"sampler reads a seed column", "seed_config: {source: " + local + "}\ncolumns: [{name: s, column_type: sampler, sampler_type: bernoulli, params: {p: 0.5}, conditional_params: {\"topic == 'x'\": {p: 1}}}]", opt, "s", "conditional_params[topic == 'x']", "a sampler can only read sampler columns"},
		{"unknown reference", "seed_config: {source: " + local + "}\ncolumns: [{name: e, column_type: expression, expr: '{{ topc }}'}]", opt, "e", "expr", `unknown reference "topc": did you mean "topic"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			_, err := Parse([]byte(tc.doc), opts...)
			require.Error(t, err)
			errs := errorsOf(err)
			found := false
			for _, e := range errs {
				if e.Column == tc.column && e.Field == tc.field && contains(e.Error(), tc.msg) {
					found = true
				}
			}
			require.True(t, found, "want column %q field %q msg containing %q, got:\n%v", tc.column, tc.field, tc.msg, err)
			if tc.name == "unreadable seed" {
				require.Len(t, errs, 1, "a reference to a column the seed would have named is not reported too")
			}
		})
	}
	// The selection's bounds are checked against the seed's size once it is read.
	_, _, err := (&Selection{Start: 0, End: 10}).Range(10)
	require.ErrorContains(t, err, "end index 10 is out of bounds for the seed dataset's 10 rows")
	_, _, err = (&Selection{Index: 0, Partitions: 11}).Range(10)
	require.ErrorContains(t, err, "num_partitions 11 is more than the seed dataset's 10 rows")
	for _, tc := range []struct{ index, parts, first, last int64 }{{0, 3, 0, 2}, {1, 3, 3, 5}, {2, 3, 6, 9}} {
		first, last, err := (&Selection{Index: tc.index, Partitions: tc.parts}).Range(10)
		require.NoError(t, err)
		require.Equal(t, [2]int64{tc.first, tc.last}, [2]int64{first, last}, "partition %d of %d", tc.index, tc.parts)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0))
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
