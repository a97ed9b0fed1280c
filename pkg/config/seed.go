package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// TypeSeedDataset is the column type of a seed dataset's columns. They are not written in a
// config: Parse adds one per column of the seed, as Data Designer's compiler does.
const TypeSeedDataset = "seed-dataset"

// Seed source types (`seed_config.source.seed_type`).
const (
	SeedLocal        = "local"
	SeedHF           = "hf"
	SeedDirectory    = "directory"
	SeedFileContents = "file_contents"
)

// Sampling strategies of a seed dataset.
const (
	SamplingOrdered = "ordered" // rows in order, from the start again once all are used
	SamplingShuffle = "shuffle" // a seeded permutation, a new one each time all are used
)

// DefaultHFEndpoint is the hub Data Designer reads `hf` seeds from.
const DefaultHFEndpoint = "https://huggingface.co"

// SeedConfig is `seed_config`: where the seed dataset is and how its rows are taken.
type SeedConfig struct {
	Source    SeedSource
	Sampling  string     // SamplingOrdered or SamplingShuffle
	Selection *Selection // nil: every row
}

// SeedSource is `seed_config.source`.
type SeedSource struct {
	Type string // SeedLocal, SeedHF, SeedDirectory or SeedFileContents
	// Path is a file or a `<dir>/*.<ext>` pattern (local), `datasets/<org>/<repo>/<file or
	// pattern>` (hf), or a folder (directory, file_contents), as written.
	Path        string
	FilePattern string // directory, file_contents: file names to take (default "*")
	Recursive   bool   // directory, file_contents: look in subfolders too (default true)
	Encoding    string // file_contents: the files' text encoding (default utf-8)
	Token       string // hf
	Endpoint    string // hf (default DefaultHFEndpoint)
}

// Selection is `selection_strategy`: an IndexRange (Start..End, inclusive) or, when
// Partitions > 0, a PartitionBlock (block Index of Partitions equal blocks).
type Selection struct {
	Start, End int64
	Index      int64
	Partitions int64
}

// Range returns the first and last row (inclusive) the selection takes of a seed of size
// rows, or an error that says why it does not fit, with Data Designer's reasons.
func (s *Selection) Range(size int64) (first, last int64, err error) {
	switch {
	case s == nil:
		return 0, size - 1, nil
	case s.Partitions > 0:
		if s.Partitions > size {
			return 0, 0, &Error{Field: "seed_config.selection_strategy.num_partitions",
				Msg: fmt.Sprintf("num_partitions %d is more than the seed dataset's %d rows", s.Partitions, size)}
		}
		block := size / s.Partitions
		first = s.Index * block
		last = first + block - 1
		if s.Index == s.Partitions-1 { // the last block takes the remainder
			last = size - 1
		}
		return first, last, nil
	case s.End >= size:
		return 0, 0, &Error{Field: "seed_config.selection_strategy.end",
			Msg: fmt.Sprintf("end index %d is out of bounds for the seed dataset's %d rows", s.End, size)}
	}
	return s.Start, s.End, nil
}

// SeedColumn is a column of a seed dataset, as its reader maps it.
type SeedColumn struct {
	Name string     `json:"name"`
	Type frame.Type `json:"type"`
}

// SeedColumnsFunc learns the columns of a seed dataset: from the data itself (the controller
// reads the seed's schema) or from a run record (workers never read the seed).
type SeedColumnsFunc func(*SeedConfig) ([]SeedColumn, error)

// Option changes how Parse and Load read a config.
type Option func(*parseOptions)

type parseOptions struct {
	seedColumns SeedColumnsFunc
}

// WithSeedColumns is how Parse learns the columns of the config's seed dataset. A config with
// a seed_config cannot be parsed without it: its templates read columns only the seed names.
func WithSeedColumns(fn SeedColumnsFunc) Option {
	return func(o *parseOptions) { o.seedColumns = fn }
}

// KnownSeedColumns is a SeedColumnsFunc for columns learned before (from a run record).
func KnownSeedColumns(cols []SeedColumn) SeedColumnsFunc {
	return func(*SeedConfig) ([]SeedColumn, error) { return slices.Clone(cols), nil }
}

// seedKeys are the keys each seed_type reads; agent_rollout and df are Data Designer's too.
var seedKeys = map[string][]string{
	SeedLocal:        {"path"},
	SeedHF:           {"path", "token", "endpoint"},
	SeedDirectory:    {"path", "file_pattern", "recursive"},
	SeedFileContents: {"path", "file_pattern", "recursive", "encoding"},
}

// parseSeedConfig decodes `seed_config`. Data Designer ignores unknown keys inside `source`;
// rowforge reports them, as everywhere else, since a misspelt file_pattern silently ignored
// would read other files than meant.
func parseSeedConfig(v any, p *problems) *SeedConfig {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("", "seed_config", "want a mapping with a source, got %s", describe(v))
		return nil
	}
	f := newFields(p, "", "seed_config.", "key", m)
	sc := &SeedConfig{Sampling: SamplingOrdered}
	before := len(p.errs)
	if sv, ok := f.required("source"); ok {
		if sm, ok := sv.(map[string]any); ok {
			sc.Source = parseSeedSource(newFields(p, "", "seed_config.source.", "key", sm))
		} else {
			f.errorf("source", "want a mapping with a seed_type, got %s", describe(sv))
		}
	}
	if s, ok := f.str("sampling_strategy", false); ok {
		if s != SamplingOrdered && s != SamplingShuffle {
			f.errorf("sampling_strategy", "%s", unknownMsg("sampling_strategy", s, []string{SamplingOrdered, SamplingShuffle}))
		}
		sc.Sampling = s
	}
	if sv, ok := f.get("selection_strategy"); ok {
		if sm, ok := sv.(map[string]any); ok {
			sc.Selection = parseSelection(newFields(p, "", "seed_config.selection_strategy.", "key", sm))
		} else {
			f.errorf("selection_strategy", "want {start, end} or {index, num_partitions}, got %s", describe(sv))
		}
	}
	f.unknown()
	if len(p.errs) != before {
		return nil
	}
	return sc
}

func parseSeedSource(f *fields) SeedSource {
	src := SeedSource{Recursive: true, FilePattern: "*", Encoding: "utf-8", Endpoint: DefaultHFEndpoint}
	st, ok := f.str("seed_type", true)
	if !ok {
		return src
	}
	src.Type = st
	switch st {
	case "agent_rollout":
		f.errorf("seed_type", "seed_type agent_rollout is not supported (rowforge reads local, hf, directory and file_contents seeds)")
		return src
	case "df":
		f.errorf("seed_type", "seed_type df is a pandas DataFrame of a Python session; write it to a file (df.to_parquet) and use seed_type local")
		return src
	}
	keys, known := seedKeys[st]
	if !known {
		f.errorf("seed_type", "%s", unknownMsg("seed_type", st, []string{SeedLocal, SeedHF, SeedDirectory, SeedFileContents}))
		return src
	}
	if path, ok := f.str("path", true); ok {
		if strings.TrimSpace(path) == "" {
			f.errorf("path", "must not be empty")
		}
		src.Path = path
	}
	if slices.Contains(keys, "file_pattern") {
		if fp, ok := f.str("file_pattern", false); ok {
			switch {
			case strings.TrimSpace(fp) == "":
				f.errorf("file_pattern", "must not be empty")
			case strings.ContainsAny(fp, `/\`):
				f.errorf("file_pattern", "must match file names, not relative paths (got %q)", fp)
			}
			src.FilePattern = fp
		}
		if r, ok := f.bool("recursive"); ok {
			src.Recursive = r
		}
	}
	if slices.Contains(keys, "encoding") {
		if e, ok := f.str("encoding", false); ok {
			src.Encoding = e
		}
	}
	if slices.Contains(keys, "token") {
		src.Token, _ = f.str("token", false)
		if e, ok := f.str("endpoint", false); ok {
			src.Endpoint = e
		}
	}
	f.unknown()
	return src
}

// parseSelection reads an IndexRange {start, end} or a PartitionBlock {index, num_partitions};
// Data Designer tells them apart by their keys, and an empty mapping is the whole dataset
// as one partition.
func parseSelection(f *fields) *Selection {
	s := &Selection{}
	isRange := f.has("start") || f.has("end")
	isBlock := f.has("index") || f.has("num_partitions") || !isRange
	if isRange && isBlock {
		f.p.add("", strings.TrimSuffix(f.prefix, "."), "want either {start, end} (an index range) or {index, num_partitions} (a partition), not keys of both")
		return nil
	}
	if isRange {
		start, ok1 := f.int("start", true)
		end, ok2 := f.int("end", true)
		switch {
		case ok1 && start < 0:
			f.errorf("start", "must be at least 0, got %d", start)
		case ok2 && end < 0:
			f.errorf("end", "must be at least 0, got %d", end)
		case ok1 && ok2 && start > end:
			f.errorf("start", "must be at most end (start %d, end %d; both are inclusive)", start, end)
		}
		s.Start, s.End = int64(start), int64(end)
	} else {
		s.Partitions = 1
		if i, ok := f.int("index", false); ok {
			s.Index = int64(i)
		}
		if n, ok := f.int("num_partitions", false); ok {
			s.Partitions = int64(n)
		}
		switch {
		case s.Index < 0:
			f.errorf("index", "must be at least 0, got %d", s.Index)
		case s.Partitions < 1:
			f.errorf("num_partitions", "must be at least 1, got %d", s.Partitions)
		case s.Index >= s.Partitions:
			f.errorf("index", "must be less than num_partitions (index %d, num_partitions %d; indexes start at 0)", s.Index, s.Partitions)
		}
	}
	f.unknown()
	return s
}

// addSeedColumns puts the seed dataset's columns first among cfg's columns, as Data
// Designer's compiler adds them (and generates them first). A config column of the same name
// is reported as Data Designer does; a seed-dataset column written in the config must be one
// of the seed's and is replaced by it.
func addSeedColumns(cfg *Config, opts parseOptions, p *problems) {
	written := map[string]*Column{}
	for _, c := range cfg.Columns {
		if c.Type == TypeSeedDataset {
			written[c.Name] = c
		}
	}
	if cfg.Seed == nil {
		for _, c := range cfg.Columns {
			if written[c.Name] != nil {
				p.add(c.Name, "column_type", "a seed-dataset column needs a seed_config")
			}
		}
		return
	}
	if opts.seedColumns == nil {
		p.seedUnknown = true
		p.add("", "seed_config", "the seed dataset's columns are not known here (a program that parses a config with a seed_config must say how to read them)")
		return
	}
	cols, err := opts.seedColumns(cfg.Seed)
	if err != nil {
		p.seedUnknown = true
		var ce *Error
		if !errors.As(err, &ce) { // a config error of its own (the selection) says where it is
			ce = &Error{Field: "seed_config.source", Msg: "cannot read the seed dataset", Err: err}
		}
		p.errs = append(p.errs, ce)
		return
	}
	if len(cols) == 0 {
		p.add("", "seed_config.source", "the seed dataset has no columns")
		return
	}
	inSeed := map[string]bool{}
	var seedCols []*Column
	for _, sc := range cols {
		inSeed[sc.Name] = true
		col := &Column{Name: sc.Name, Type: TypeSeedDataset, Output: sc.Type}
		if w := written[sc.Name]; w != nil {
			col.Drop = w.Drop // what a written seed column may say of itself
		}
		seedCols = append(seedCols, col)
	}
	var rest []*Column
	var collide []string
	for _, c := range cfg.Columns {
		switch {
		case inSeed[c.Name] && written[c.Name] == nil:
			collide = append(collide, c.Name)
		case written[c.Name] != nil && !inSeed[c.Name]:
			p.add(c.Name, "column_type", "%q is not a column of the seed dataset (its columns: %s)", c.Name, strings.Join(seedColumnNames(cols), ", "))
		case written[c.Name] != nil: // the seed's own column stands for it
			continue
		}
		rest = append(rest, c)
	}
	if len(collide) > 0 {
		p.add("", "seed_config", "seed dataset column(s) %s collide with existing column(s); remove the conflicting columns or use a seed dataset with different column names",
			strings.Join(collide, ", "))
	}
	cfg.Columns = append(seedCols, rest...)
}

func seedColumnNames(cols []SeedColumn) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}
