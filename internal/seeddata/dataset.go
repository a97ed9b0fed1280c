// Package seeddata reads seed datasets (Data Designer's seed_config): local Parquet, CSV and
// JSON files, a folder's files, a Hugging Face dataset from a local copy. The controller reads
// them, a row group's rows at a time, and places the rows in the prepared group, so workers
// never need the seed. Memory holds a batch of the file being read (a row group's worth for
// Parquet) and, for a shuffled seed, one bucket of its rows: it does not grow with the seed.
package seeddata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Options say where a seed is looked for and where a shuffle spills.
type Options struct {
	// BaseDir resolves relative paths; "" is the working directory, where Data Designer
	// resolves them.
	BaseDir string
	// HFCache is the Hugging Face hub cache hf seeds are read from; "" looks in
	// $HF_HUB_CACHE, $HF_HOME/hub and ~/.cache/huggingface/hub.
	HFCache string
	// TempDir holds a shuffled seed's buckets; "" is the system's.
	TempDir string
	// BucketRows bounds the rows of a shuffled seed held in memory at once; 0 is 65536.
	BucketRows int
}

// Dataset is an opened seed dataset: its columns, and the rows its selection takes.
type Dataset struct {
	cfg         *config.SeedConfig
	opts        Options
	t           table
	first, last int64 // the selected rows, inclusive
	// Location says where the rows come from: the files (local, hf) or the folder.
	Location []string
}

// Open finds a seed dataset, reads its columns and counts its rows (reading a CSV or JSON
// seed through once, so that a malformed row is found now rather than mid-run), and checks
// the selection against its size. Errors name the file and what is wrong with it.
func Open(ctx context.Context, sc *config.SeedConfig, opts Options) (*Dataset, error) {
	if sc == nil {
		return nil, errors.New("seeddata: no seed_config")
	}
	d := &Dataset{cfg: sc, opts: opts}
	var err error
	switch sc.Source.Type {
	case config.SeedLocal:
		d.Location, err = localFiles(resolvePath(opts.BaseDir, sc.Source.Path))
	case config.SeedHF:
		d.Location, err = hfFiles(sc.Source, opts)
	case config.SeedDirectory, config.SeedFileContents:
		d.t, err = openDir(sc.Source, opts.BaseDir)
		if err == nil {
			d.Location = []string{d.t.(*dirTable).root}
		}
	default:
		err = fmt.Errorf("seed_type %q is not supported", sc.Source.Type)
	}
	if err != nil {
		return nil, err
	}
	if d.t == nil {
		if d.t, err = openFiles(ctx, d.Location); err != nil {
			return nil, err
		}
	}
	if d.t.Len() == 0 {
		return nil, fmt.Errorf("%s: the seed dataset has no rows", strings.Join(d.Location, ", "))
	}
	if d.first, d.last, err = sc.Selection.Range(d.t.Len()); err != nil {
		return nil, err
	}
	return d, nil
}

// Columns returns the seed's columns.
func (d *Dataset) Columns() []config.SeedColumn { return d.t.Columns() }

// Len is the number of rows the selection takes.
func (d *Dataset) Len() int64 { return d.last - d.first + 1 }

// resolvePath makes a relative path relative to base ("" is the working directory) and
// expands a leading ~.
func resolvePath(base, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// seedExts are the file types a local seed may be, as in Data Designer.
var seedExts = []string{".parquet", ".csv", ".json", ".jsonl"}

// localFiles resolves a local seed path: a file, or Data Designer's one pattern form
// `<folder>/*.<ext>` (all the folder's files of that type, in name order).
func localFiles(p string) ([]string, error) {
	for _, ext := range seedExts {
		if !strings.HasSuffix(p, "*"+ext) {
			continue
		}
		dir := strings.TrimSuffix(p, "*"+ext)
		if strings.ContainsAny(dir, "*?[") || (dir != "" && !strings.HasSuffix(dir, string(filepath.Separator)) && !strings.HasSuffix(dir, "/")) {
			return nil, fmt.Errorf("path %s: only a folder's files of one type (<folder>/*%s) can be matched", p, ext)
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*"+ext))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("path %q does not contain files of type %q", dir, strings.TrimPrefix(ext, "."))
		}
		for i, m := range matches {
			if matches[i], err = filepath.Abs(m); err != nil {
				return nil, err
			}
		}
		return matches, nil
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, fmt.Errorf("path %s is not a file: %w", p, err)
	}
	if fileKind(p) == "" {
		return nil, fmt.Errorf("%s: seed files must be Parquet, CSV or JSON lines (.parquet, .csv, .json, .jsonl)", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, err
	}
	return []string{abs}, nil
}

func fileKind(p string) string {
	ext := strings.ToLower(filepath.Ext(p))
	for _, e := range seedExts {
		if ext == e {
			return e
		}
	}
	return ""
}

// openFiles opens files of one type as one table.
func openFiles(ctx context.Context, files []string) (table, error) {
	parts := make([]table, len(files))
	for i, f := range files {
		var err error
		switch fileKind(f) {
		case ".parquet":
			parts[i], err = openParquet(f)
		case ".csv":
			parts[i], err = openCSV(ctx, f)
		case ".json", ".jsonl":
			parts[i], err = openJSON(ctx, f)
		default:
			err = fmt.Errorf("%s: seed files must be Parquet, CSV or JSON lines (.parquet, .csv, .json, .jsonl)", f)
		}
		if err != nil {
			return nil, err
		}
	}
	return newConcat(parts, files)
}

// Reader hands out a run's seed rows, a row group at a time. Not safe for concurrent use: the
// controller admits groups one after the other.
type Reader struct {
	d    *Dataset
	seed uint64
	sc   scanner // ordered: the open scan, at table row pos
	pos  int64
	shuf *shuffler
}

// Reader returns a reader of the dataset's rows for a run with the given seed.
func (d *Dataset) Reader(seed uint64) *Reader {
	r := &Reader{d: d, seed: seed}
	if d.cfg.Sampling == config.SamplingShuffle {
		r.shuf = newShuffler(d, seed)
	}
	return r
}

// Rows returns the run's rows offset to offset+n-1. Row k of a run is, in order, the
// selection's row k modulo its size (ordered), or that row of a seeded permutation of the
// selection, a new one each time the selection is used up (shuffle). Rows are the same
// whatever was read before: a resumed run gets the rows an uninterrupted one got.
func (r *Reader) Rows(ctx context.Context, offset int64, n int) (*frame.Frame, error) {
	var parts []*frame.Frame
	size := r.d.Len()
	for got := 0; got < n; {
		k := offset + int64(got)
		var f *frame.Frame
		var err error
		if r.shuf != nil {
			f, err = r.shuf.rows(ctx, k/size, k%size, n-got)
		} else {
			row := r.d.first + k%size
			f, err = r.ordered(ctx, row, min(int64(n-got), r.d.last-row+1))
		}
		if err != nil {
			return nil, err
		}
		if f.Len() == 0 {
			return nil, fmt.Errorf("the seed dataset gave no row at run row %d", k)
		}
		parts = append(parts, f)
		got += f.Len()
	}
	if len(parts) == 0 {
		return frameOf(r.d.Columns(), 0), nil
	}
	return frame.Concat(parts...)
}

// ordered reads up to n rows from table row row on.
func (r *Reader) ordered(ctx context.Context, row, n int64) (*frame.Frame, error) {
	if r.sc == nil || r.pos != row {
		if r.sc != nil {
			_ = r.sc.Close()
		}
		sc, err := r.d.t.Scan(ctx, row)
		if err != nil {
			return nil, err
		}
		r.sc, r.pos = sc, row
	}
	f, err := r.sc.Next(ctx, int(n))
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the seed dataset ended at row %d, before the %d rows it had when the run started: was it changed?", row, r.d.t.Len())
	}
	if err != nil {
		return nil, err
	}
	r.pos += int64(f.Len())
	return f, nil
}

// Close releases the open files and removes a shuffle's buckets.
func (r *Reader) Close() error {
	var err error
	if r.sc != nil {
		err = r.sc.Close()
		r.sc = nil
	}
	if r.shuf != nil {
		err = errors.Join(err, r.shuf.close())
	}
	return err
}

// frameOf returns a frame of n zero rows of the columns.
func frameOf(cols []config.SeedColumn, n int) *frame.Frame {
	f := frame.New(n)
	for _, c := range cols {
		_ = f.Put(frame.NewColumn(c.Name, c.Type, n))
	}
	return f
}
