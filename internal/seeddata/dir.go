package seeddata

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// dirTable is a directory or file_contents seed: one row per file of a folder whose name
// matches a pattern, in the order of their paths, with Data Designer's columns. file_contents
// adds the text of each file, read only when its row is.
type dirTable struct {
	root     string // absolute
	files    []string
	kind     string // Data Designer's source_kind
	contents bool
	enc      encoding.Encoding // nil: UTF-8
	encName  string
	stripBOM bool // utf-8-sig
}

var (
	dirColumns = []config.SeedColumn{
		{Name: "source_kind", Type: frame.String}, {Name: "source_path", Type: frame.String},
		{Name: "relative_path", Type: frame.String}, {Name: "file_name", Type: frame.String},
	}
	contentColumns = append(append([]config.SeedColumn(nil), dirColumns...), config.SeedColumn{Name: "content", Type: frame.String})
)

func openDir(src config.SeedSource, base string) (table, error) {
	root, err := filepath.Abs(resolvePath(base, src.Path))
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("seed source directory %s does not exist", root)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	t := &dirTable{root: root, kind: "directory_file"}
	if src.Type == config.SeedFileContents {
		t.kind, t.contents, t.encName = "file_contents", true, src.Encoding
		t.stripBOM = strings.EqualFold(strings.ReplaceAll(src.Encoding, "_", "-"), "utf-8-sig")
		if t.enc, err = pythonEncoding(src.Encoding); err != nil {
			return nil, err
		}
	}
	pattern := pythonGlob(src.FilePattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("file_pattern %q is not a valid pattern: %w", src.FilePattern, err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && !src.Recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if ok, _ := path.Match(pattern, d.Name()); ok {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			t.files = append(t.files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	if len(t.files) == 0 {
		scope := "under"
		if !src.Recursive {
			scope = "directly under"
		}
		return nil, fmt.Errorf("no files matched file_pattern %q %s %s", src.FilePattern, scope, root)
	}
	sort.Strings(t.files)
	return t, nil
}

// pythonGlob turns Python's fnmatch negation [!…] into Go's [^…].
func pythonGlob(p string) string { return strings.ReplaceAll(p, "[!", "[^") }

// pythonEncoding finds a Python codec name among the encodings Go knows; nil means UTF-8.
func pythonEncoding(name string) (encoding.Encoding, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	switch n {
	case "utf-8", "utf8", "u8":
		return nil, nil
	case "latin-1", "latin1", "l1", "iso8859-1":
		n = "iso-8859-1"
	case "ascii":
		n = "us-ascii"
	case "utf-8-sig":
		return nil, nil // a byte order mark is dropped either way
	}
	if strings.HasPrefix(n, "cp") {
		n = "windows-" + strings.TrimPrefix(n, "cp")
	}
	if e, err := ianaindex.IANA.Encoding(n); err == nil && e != nil {
		return e, nil
	}
	if e, err := htmlindex.Get(n); err == nil {
		return e, nil
	}
	return nil, fmt.Errorf("unknown encoding %q: use a Python codec name such as utf-8, latin-1 or cp1252", name)
}

func (t *dirTable) Columns() []config.SeedColumn {
	if t.contents {
		return contentColumns
	}
	return dirColumns
}

func (t *dirTable) Len() int64 { return int64(len(t.files)) }

func (t *dirTable) Scan(_ context.Context, from int64) (scanner, error) {
	return &dirScanner{t: t, i: int(from)}, nil
}

type dirScanner struct {
	t *dirTable
	i int
}

func (s *dirScanner) Next(ctx context.Context, max int) (*frame.Frame, error) {
	t := s.t
	if s.i >= len(t.files) {
		return nil, io.EOF
	}
	files := t.files[s.i:min(s.i+max, len(t.files))]
	n := len(files)
	cols := make([]*frame.Column, len(t.Columns()))
	for j, c := range t.Columns() {
		cols[j] = frame.NewColumn(c.Name, c.Type, n)
	}
	for k, rel := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		abs := filepath.Join(t.root, filepath.FromSlash(rel))
		cols[0].Strings[k] = t.kind
		cols[1].Strings[k] = abs
		cols[2].Strings[k] = rel
		cols[3].Strings[k] = path.Base(rel)
		if t.contents {
			text, err := t.read(abs)
			if err != nil {
				return nil, err
			}
			cols[4].Strings[k] = text
		}
	}
	s.i += n
	f := frame.New(n)
	for _, c := range cols {
		if err := f.Put(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// read returns a file's text as Python's text mode does: decoded, line ends made "\n".
func (t *dirTable) read(abs string) (string, error) {
	b, err := os.ReadFile(abs)
	if err != nil {
		return "", fmt.Errorf("failed to read file %s: %w", abs, err)
	}
	if t.enc != nil {
		if b, err = t.enc.NewDecoder().Bytes(b); err != nil {
			return "", fmt.Errorf("failed to decode file %s using encoding %q: %w", abs, t.encName, err)
		}
	} else if !utf8.Valid(b) {
		return "", fmt.Errorf("failed to decode file %s using encoding %q: not valid UTF-8 (set encoding to the files' own)", abs, t.encName)
	}
	s := string(b)
	if t.stripBOM {
		s = strings.TrimPrefix(s, "\ufeff")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n"), nil
}

func (s *dirScanner) Close() error { return nil }
