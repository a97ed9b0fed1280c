package sinks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Names of Data Designer's artifact folder. Its users load rowforge output with the same code,
// so these must not drift.
const (
	ParquetFilesDir   = "parquet-files"
	MetadataFile      = "metadata.json"
	BuilderConfigFile = "builder_config.json"
	// tmpPrefix starts every temp file. A leading dot keeps it out of a `batch_*.parquet`
	// listing and out of pyarrow/pandas dataset discovery, which skip dot files.
	tmpPrefix = ".tmp-"
)

// BatchFile is the name of group g's file relative to the dataset folder, with forward slashes
// (it goes into Commit.Path and metadata.json), e.g. "parquet-files/batch_00007.parquet".
func BatchFile(group int) string { return SideFile(ParquetFilesDir, group) }

// SideFile is the name of group g's file in the side dataset folder dir, relative to the
// dataset folder, with forward slashes (it goes into Commit.Sides), e.g.
// "dropped-columns-parquet-files/batch_00007.parquet".
func SideFile(dir string, group int) string {
	return path.Join(dir, fmt.Sprintf("batch_%05d.parquet", group))
}

// ParquetOptions tunes a Parquet sink. The zero value is the default.
type ParquetOptions struct {
	// Compression is the codec name: "snappy" (the default when empty), "zstd", "gzip",
	// "brotli", "lz4", "lz4_raw", or "uncompressed" (alias "none"). A name rather than
	// compress.Compression because that type's zero value is Uncompressed, which could not
	// then mean "default".
	Compression string
	// DictionaryColumns lists the columns to dictionary-encode. Encoding is off for every other
	// column: arrow-go encodes all columns by default, which costs 10-20 % of throughput and only
	// pays off on low-cardinality columns.
	DictionaryColumns []string
	// Logger receives debug records of writes and info records of Discard's clean-up. Nil
	// discards them.
	Logger *slog.Logger
}

// Parquet is the build sink: it writes one Parquet file per group into the dataset folder, one
// per side dataset of the group into the side's folder, and builder_config.json and
// metadata.json on Finalize. Every file goes through a temp file in the same folder, fsync,
// rename and a folder fsync, so a file is whole or absent after a crash, and a redelivered group
// atomically replaces its files with the same content.
//
// Methods are safe for concurrent use; concurrent writes of different groups do not block each
// other.
type Parquet struct {
	dir      string // dataset folder
	files    string // dir/parquet-files
	props    []parquet.WriterProperty
	arrProps pqarrow.ArrowWriterProperties
	log      *slog.Logger
	// ready holds the side folders (as Side.Dir) that exist and whose entries are on disk.
	ready sync.Map
}

var _ lifecycle.Sink = (*Parquet)(nil)

// NewParquet returns a sink writing into dir, the dataset folder (<out>/<dataset>). It creates
// dir and dir/parquet-files if they are missing and rejects an unknown codec now rather than at
// the first group.
func NewParquet(dir string, opts ParquetOptions) (*Parquet, error) {
	codec, err := parseCodec(opts.Compression)
	if err != nil {
		return nil, err
	}
	if _, err := compress.GetCodec(codec); err != nil {
		return nil, fmt.Errorf("sinks: parquet codec %q: %w", opts.Compression, err)
	}
	if dir == "" {
		return nil, errors.New("sinks: parquet: empty dataset folder")
	}
	files := filepath.Join(dir, ParquetFilesDir)
	if err := os.MkdirAll(files, 0o755); err != nil {
		return nil, fmt.Errorf("sinks: parquet: create %s: %w", files, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	props := []parquet.WriterProperty{
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(false),
	}
	for _, c := range opts.DictionaryColumns {
		props = append(props, parquet.WithDictionaryFor(c, true))
	}
	return &Parquet{
		dir:   dir,
		files: files,
		props: props,
		// The stored Arrow schema lets Arrow readers (pyarrow, pandas) restore exact types.
		arrProps: pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()),
		log:      log.With("sink", "parquet", "dir", dir),
	}, nil
}

func parseCodec(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "":
		return compress.Codecs.Snappy, nil
	case "none":
		return compress.Codecs.Uncompressed, nil
	}
	var c compress.Compression // parses the Thrift enum names, which are upper case
	if err := c.UnmarshalText([]byte(strings.ToUpper(name))); err != nil {
		return 0, fmt.Errorf("sinks: parquet codec %q: %w", name, err)
	}
	return c, nil
}

// Dir returns the dataset folder.
func (p *Parquet) Dir() string { return p.dir }

// WriteGroup writes each side of g as <Side.Dir>/batch_<group:05d>.parquet, creating the
// folder, and then g.Main as parquet-files/batch_<group:05d>.parquet, each file one Parquet row
// group; it returns once every file and folder entry is on disk. The main file goes last, so a
// main file that exists is a whole group: a crash in between leaves side files that a rewrite of
// the group replaces. Writing a group again replaces its files atomically; readers see the old
// file or the new one, never a mix. The Commit's Path is the main file and its Sides map each
// Side.Dir to the side's file, both relative to the dataset folder. A cancelled ctx is checked
// at entry only: once started, a write is short and finishing it is harmless.
func (p *Parquet) WriteGroup(ctx context.Context, g lifecycle.Group) (wire.Commit, error) {
	if err := checkWrite(ctx, g); err != nil {
		return wire.Commit{}, err
	}
	// pqarrow writes a null in a non-nullable column as a zero value, without an error: refuse
	// the group rather than corrupt it silently.
	if err := checkNulls(g.Main); err != nil {
		return wire.Commit{}, fmt.Errorf("sinks: write group %d: %w", g.Index, err)
	}
	for _, side := range g.Sides {
		if err := checkNulls(side.Rec); err != nil {
			return wire.Commit{}, fmt.Errorf("sinks: write group %d: side %q: %w", g.Index, side.Dir, err)
		}
	}

	var sides map[string]string
	for _, side := range g.Sides {
		rel := SideFile(side.Dir, g.Index)
		final := filepath.Join(p.dir, filepath.FromSlash(rel))
		if err := p.makeSideDir(side.Dir); err != nil {
			return wire.Commit{}, fmt.Errorf("sinks: write group %d: side %q: create folder: %w", g.Index, side.Dir, err)
		}
		if err := p.writeRecord(final, side.Rec); err != nil {
			return wire.Commit{}, fmt.Errorf("sinks: write group %d: side %q to %s: %w", g.Index, side.Dir, final, err)
		}
		if sides == nil {
			sides = make(map[string]string, len(g.Sides))
		}
		sides[side.Dir] = rel
	}

	rel := BatchFile(g.Index)
	final := filepath.Join(p.dir, filepath.FromSlash(rel))
	if err := p.writeRecord(final, g.Main); err != nil {
		return wire.Commit{}, fmt.Errorf("sinks: write group %d to %s: %w", g.Index, final, err)
	}
	p.log.Debug("group written", "group", g.Index, "rows", g.Main.NumRows(), "file", rel, "sides", len(g.Sides))
	return wire.Commit{Group: g.Index, Rows: int(g.Main.NumRows()), Path: rel, Sides: sides}, nil
}

// checkNulls refuses a null in a column that is not nullable.
func checkNulls(rec arrow.RecordBatch) error {
	for i, f := range rec.Schema().Fields() {
		if !f.Nullable && rec.Column(i).NullN() > 0 {
			return fmt.Errorf("column %q is not nullable but holds %d nulls", f.Name, rec.Column(i).NullN())
		}
	}
	return nil
}

// writeRecord writes rec atomically as the Parquet file final, in one row group.
func (p *Parquet) writeRecord(final string, rec arrow.RecordBatch) error {
	// Row groups are cut by rows; one file holds one group, so one row group per file (a side
	// may hold no rows, and the length must be positive).
	// slices.Concat, not append: p.props is shared by concurrent writes.
	props := parquet.NewWriterProperties(slices.Concat(p.props, []parquet.WriterProperty{
		parquet.WithMaxRowGroupLength(max(rec.NumRows(), 1)),
	})...)
	return writeAtomic(final, func(w io.Writer) error {
		fw, err := pqarrow.NewFileWriter(rec.Schema(), w, props, p.arrProps)
		if err != nil {
			return err
		}
		if err := fw.Write(rec); err != nil {
			_ = fw.Close()
			return err
		}
		return fw.Close()
	})
}

// makeSideDir creates the side folder dir (a Side.Dir, checked by checkSideDir) and each
// missing folder above it, and fsyncs the parent of every element: a side file must not outlive
// its folder's entry in a crash when the main file, written after it, survives. Found or
// created, a folder's parent is synced once per sink, since another writer may have created it
// and not yet synced.
func (p *Parquet) makeSideDir(dir string) error {
	if _, ok := p.ready.Load(dir); ok {
		return nil
	}
	cur := p.dir
	for elem := range strings.SplitSeq(dir, "/") {
		parent := cur
		cur = filepath.Join(cur, elem)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	p.ready.Store(dir, struct{}{})
	return nil
}

// Finalize writes builder_config.json (meta.BuilderConfig, byte for byte) and then
// metadata.json, each atomically. metadata.json goes last: its presence is the mark of a
// completed run, so a crash in between leaves a folder that reads as unfinished. Calling it
// again rewrites both.
func (p *Parquet) Finalize(ctx context.Context, meta wire.Metadata) error {
	if err := checkFinalize(ctx, &meta); err != nil {
		return err
	}
	body, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("sinks: finalize run %q: encode metadata: %w", meta.RunID, err)
	}
	body = append(body, '\n')
	// Every group is committed by now: a temp file left is the remains of a write a crashed
	// sinkd never finished (its group was redelivered and written again). A finished dataset
	// holds none.
	if err := p.Discard(ctx); err != nil {
		return fmt.Errorf("sinks: finalize run %q: %w", meta.RunID, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{BuilderConfigFile, meta.BuilderConfig},
		{MetadataFile, body},
	} {
		final := filepath.Join(p.dir, f.name)
		if err := writeAtomic(final, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		}); err != nil {
			return fmt.Errorf("sinks: finalize run %q: write %s: %w", meta.RunID, final, err)
		}
	}
	p.log.Debug("run finalized", "run", meta.RunID, "records", meta.ActualNumRecords)
	return nil
}

// Discard removes temp files that a crashed or interrupted write left behind, anywhere in the
// dataset folder: in it, in parquet-files/ and in the side folders. It never touches committed
// data: a failed run keeps its committed groups (and never has a metadata.json). It ignores ctx,
// because it runs on the abort path where the caller's ctx is often already cancelled, and it
// only does local listings and deletes. Discard must not run concurrently with writes of the
// same dataset, whose temp files it would remove (those writes would then fail, leaving nothing
// half-written).
func (p *Parquet) Discard(context.Context) error {
	var errs []error
	// The side folders are not known here (a restarted sinkd has not seen them), so the whole
	// dataset folder is walked; WalkDir does not follow symbolic links out of it.
	err := filepath.WalkDir(p.dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("sinks: discard: list %s: %w", name, err))
			return nil // skip what cannot be listed; go on with the rest
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("sinks: discard: %w", err))
			return nil
		}
		p.log.Info("removed temp file", "file", name)
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("sinks: discard: walk %s: %w", p.dir, err))
	}
	return errors.Join(errs...)
}

// writeOnly hides every method of the writer but Write. pqarrow's FileWriter.Close closes its
// writer when that is an io.Closer; the file must stay open until it is fsynced.
type writeOnly struct{ w io.Writer }

func (w writeOnly) Write(b []byte) (int, error) { return w.w.Write(b) }

// writeAtomic makes final hold exactly what write writes, or leaves it untouched: temp file in
// the same folder (same file system, so rename is atomic) → write → flush → fsync → chmod 0644
// (CreateTemp makes 0600) → close → rename → fsync of the folder, which makes the rename itself
// durable. On any error the temp file is removed.
func writeAtomic(final string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(final)
	f, err := os.CreateTemp(dir, tmpPrefix+base+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10) // pqarrow issues many small writes
	if err := write(writeOnly{bw}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return d.Close()
}
