package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A finalized group travels to the sink as one body, a group container, holding the group's
// main record and its side records (the side datasets processors made from it):
//
//	"RFG1"                     magic (GroupMagic)
//	uint32 count               number of parts, 1 to MaxGroupParts; part 0 is the main record
//	count times:
//	  uint32 name length       at most maxPartName
//	  name                     "" for the main record, else the side's name (see checkPartName)
//	  uint64 body length
//	  body                     the record as an Arrow IPC stream, as EncodeRecord writes it
//
// Integers are little-endian, like Arrow's own framing. Nothing may follow the last part.
const (
	// GroupMagic starts every group container. A bare Arrow IPC stream starts with its
	// continuation marker (0xFFFFFFFF), so the two cannot be mistaken for one another.
	GroupMagic = "RFG1"
	// MaxGroupParts bounds the parts of a container: the main record and up to
	// MaxGroupParts-1 sides.
	MaxGroupParts = 64
	// maxPartName bounds a part's name, in bytes.
	maxPartName = 1024
)

// NamedRecord is one side record of a group container. Name is where the side dataset goes,
// a clean relative slash-separated path such as "processors-files/summary".
type NamedRecord struct {
	Name string
	Rec  arrow.RecordBatch
}

// ErrMalformedGroup is wrapped by every error DecodeGroup returns.
var ErrMalformedGroup = errors.New("malformed group container")

// EncodeGroup encodes main and its sides as one group container. main and every side record
// must be non-nil, and the side names valid (see checkPartName) and distinct. It does not keep
// or release the records.
func EncodeGroup(main arrow.RecordBatch, sides []NamedRecord) ([]byte, error) {
	if main == nil {
		return nil, errors.New("encode group: nil main record")
	}
	if len(sides) > MaxGroupParts-1 {
		return nil, fmt.Errorf("encode group: %d sides (at most %d)", len(sides), MaxGroupParts-1)
	}
	names := make(map[string]bool, len(sides))
	for i, s := range sides {
		if err := checkPartName(s.Name); err != nil {
			return nil, fmt.Errorf("encode group: side %d: %w", i, err)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("encode group: side %d: name %q appears twice", i, s.Name)
		}
		names[s.Name] = true
		if s.Rec == nil {
			return nil, fmt.Errorf("encode group: side %q: nil record", s.Name)
		}
	}

	parts := append([]NamedRecord{{Rec: main}}, sides...) // part 0, the main record, has no name
	bodies := make([][]byte, len(parts))
	size := len(GroupMagic) + 4
	for i, p := range parts {
		b, err := EncodeRecord(p.Rec)
		if err != nil {
			return nil, fmt.Errorf("encode group: part %d %q: %w", i, p.Name, err)
		}
		bodies[i] = b
		size += 4 + len(p.Name) + 8 + len(b)
	}
	out := make([]byte, 0, size)
	out = append(out, GroupMagic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(parts)))
	for i, p := range parts {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p.Name)))
		out = append(out, p.Name...)
		out = binary.LittleEndian.AppendUint64(out, uint64(len(bodies[i])))
		out = append(out, bodies[i]...)
	}
	return out, nil
}

// DecodeGroup decodes a group container as EncodeGroup writes it. The caller releases main and
// every side record; sides is nil when the group has none. Each part is decoded by the same
// checks as DecodeRecord, and all parts together draw on the memory budget of the whole body.
// A body that is not exactly a container is an error (wrapping ErrMalformedGroup): a wrong magic,
// no parts or more than MaxGroupParts, a length past the end, bytes after the last part, a main
// part with a name, a side name that is not a clean relative path or that repeats. On an error
// every record already decoded is released and no record is returned.
func DecodeGroup(body []byte) (main arrow.RecordBatch, sides []NamedRecord, err error) {
	return decodeGroup(body, memory.DefaultAllocator)
}

// decodeGroup is DecodeGroup allocating from mem, so that tests can check for leaks.
func decodeGroup(body []byte, mem memory.Allocator) (arrow.RecordBatch, []NamedRecord, error) {
	main, sides, err := decodeParts(body, mem)
	if err != nil {
		// decodeParts returns the records it decoded before the error: released here, in one
		// place, rather than by a deferred release that a `return nil, nil, err` would defeat.
		if main != nil {
			main.Release()
		}
		for _, s := range sides {
			s.Rec.Release()
		}
		return nil, nil, fmt.Errorf("decode group: %w", err)
	}
	return main, sides, nil
}

// decodeParts decodes body into main and sides. On an error it still returns what it decoded
// before the error, for decodeGroup to release.
func decodeParts(body []byte, mem memory.Allocator) (main arrow.RecordBatch, sides []NamedRecord, err error) {
	if !bytes.HasPrefix(body, []byte(GroupMagic)) {
		return nil, nil, fmt.Errorf("%w: no %q magic", ErrMalformedGroup, GroupMagic)
	}
	r := groupReader{b: body[len(GroupMagic):]}
	count, ok := r.uint32()
	if !ok {
		return nil, nil, fmt.Errorf("%w: truncated part count", ErrMalformedGroup)
	}
	if count == 0 || count > MaxGroupParts {
		return nil, nil, fmt.Errorf("%w: %d parts (want 1 to %d)", ErrMalformedGroup, count, MaxGroupParts)
	}
	budget := newBudget(mem, len(body))
	names := make(map[string]bool, count-1)
	for i := range int(count) {
		name, part, err := r.part(i)
		if err != nil {
			return main, sides, err
		}
		if i == 0 && name != "" {
			return main, sides, fmt.Errorf("%w: part 0 (the main record) is named %q", ErrMalformedGroup, name)
		}
		if i > 0 {
			if err := checkPartName(name); err != nil {
				return main, sides, fmt.Errorf("%w: part %d: %w", ErrMalformedGroup, i, err)
			}
			if names[name] {
				return main, sides, fmt.Errorf("%w: part %d: name %q appears twice", ErrMalformedGroup, i, name)
			}
			names[name] = true
		}
		rec, err := decodeRecord(part, budget)
		if err != nil {
			return main, sides, fmt.Errorf("%w: part %d %q: %w", ErrMalformedGroup, i, name, err)
		}
		if i == 0 {
			main = rec
		} else {
			sides = append(sides, NamedRecord{Name: name, Rec: rec})
		}
	}
	if len(r.b) != 0 {
		return main, sides, fmt.Errorf("%w: %d bytes after the last part", ErrMalformedGroup, len(r.b))
	}
	return main, sides, nil
}

// groupReader reads a container's framing; every read is checked against what is left.
type groupReader struct{ b []byte }

func (r *groupReader) uint32() (uint32, bool) {
	if len(r.b) < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, true
}

// part reads part i's name and body. The body aliases the container.
func (r *groupReader) part(i int) (string, []byte, error) {
	n, ok := r.uint32()
	if !ok {
		return "", nil, fmt.Errorf("%w: part %d: truncated name length", ErrMalformedGroup, i)
	}
	if n > maxPartName || int64(n) > int64(len(r.b)) {
		return "", nil, fmt.Errorf("%w: part %d: name length %d, %d bytes left (at most %d)",
			ErrMalformedGroup, i, n, len(r.b), maxPartName)
	}
	name := string(r.b[:n])
	r.b = r.b[n:]
	if len(r.b) < 8 {
		return "", nil, fmt.Errorf("%w: part %d: truncated body length", ErrMalformedGroup, i)
	}
	size := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	if size > uint64(len(r.b)) {
		return "", nil, fmt.Errorf("%w: part %d: body length %d, %d bytes left", ErrMalformedGroup, i, size, len(r.b))
	}
	body := r.b[:size]
	r.b = r.b[size:]
	return name, body, nil
}

// checkPartName accepts a side's name: a clean relative slash-separated path of at most
// maxPartName bytes of valid UTF-8, without control characters or backslashes, with no empty,
// "." or ".." element. Sinks may refuse more (the Parquet sink refuses its own folder).
func checkPartName(name string) error {
	switch {
	case name == "":
		return errors.New("empty side name")
	case len(name) > maxPartName:
		return fmt.Errorf("side name of %d bytes (at most %d)", len(name), maxPartName)
	case !utf8.ValidString(name):
		return fmt.Errorf("side name %q is not valid UTF-8", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return fmt.Errorf("side name %q holds a control character or a backslash", name)
	case path.IsAbs(name):
		return fmt.Errorf("side name %q is an absolute path", name)
	case path.Clean(name) != name || name == "." || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("side name %q is not a clean relative path", name)
	}
	return nil
}
