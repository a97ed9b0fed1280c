package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkStream verifies the framing and the flatbuffer metadata of an Arrow IPC stream before
// the Arrow reader sees it, and accepts only what EncodeRecord writes: a little-endian schema
// whose fields are Int, FloatingPoint, Utf8 or Bool (no children, no dictionaries), then
// record batches, uncompressed or LZ4-compressed.
//
// The Arrow reader trusts the lengths in the flatbuffers it reads and sizes Go slices by them
// (make([]arrow.Field, n) for a schema's fields, make([]string, n) for custom metadata), where
// n is any 32-bit number, and it copies a string once for every reference to it. A 567-byte
// body found by FuzzDecodeRecord declared enough fields for a 247 GB allocation: an
// out-of-memory crash that recover cannot catch. So every vector that the reader allocates by
// must fit in the buffer, and the strings and vectors reached must not add up to more than
// the buffer holds (a legitimate flatbuffer never shares them).
func checkStream(b []byte) error {
	for i := 0; ; i++ {
		if len(b) == 0 {
			return nil // the end of the stream without an end-of-stream marker is fine
		}
		if len(b) < 4 {
			return fmt.Errorf("message %d: %d stray bytes", i, len(b))
		}
		cont := binary.LittleEndian.Uint32(b)
		if cont == 0 {
			return nil // end-of-stream marker (pre-1.0 form)
		}
		if cont != 0xFFFFFFFF {
			return fmt.Errorf("message %d: no continuation marker", i)
		}
		if len(b) < 8 {
			return fmt.Errorf("message %d: truncated length", i)
		}
		n := int64(binary.LittleEndian.Uint32(b[4:]))
		if n == 0 {
			return nil // end-of-stream marker
		}
		b = b[8:]
		if n < 8 || n > int64(len(b)) {
			return fmt.Errorf("message %d: metadata length %d, %d bytes left", i, n, len(b))
		}
		bodyLen, err := checkMessage(b[:n], i == 0)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		b = b[n:]
		if bodyLen < 0 || bodyLen > int64(len(b)) {
			return fmt.Errorf("message %d: body length %d, %d bytes left", i, bodyLen, len(b))
		}
		b = b[bodyLen:]
	}
}

// Flatbuffer enum values and vtable slots of Arrow's Message.fbs and Schema.fbs.
const (
	fbHeaderSchema      = 1
	fbHeaderRecordBatch = 3

	fbTypeInt           = 2
	fbTypeFloatingPoint = 3
	fbTypeUtf8          = 5
	fbTypeBool          = 6
	fbTypeList          = 12

	fbCodecLZ4Frame = 0

	slotMessageHeaderType, slotMessageHeader, slotMessageBodyLength, slotMessageMetadata = 1, 2, 3, 4
	slotSchemaEndianness, slotSchemaFields, slotSchemaMetadata                           = 0, 1, 2
	slotFieldName, slotFieldTypeType, slotFieldType, slotFieldDictionary                 = 0, 2, 3, 4
	slotFieldChildren, slotFieldMetadata                                                 = 5, 6
	slotBatchCompression                                                                 = 3
	slotCompressionCodec                                                                 = 0
	slotKeyValueKey, slotKeyValueValue                                                   = 0, 1
)

// checkMessage verifies one message's metadata and returns its body length.
func checkMessage(meta []byte, first bool) (int64, error) {
	fb := &flatbuf{b: meta, left: len(meta)}
	msg, err := fb.root()
	if err != nil {
		return 0, err
	}
	if err := fb.keyValues(msg, slotMessageMetadata); err != nil {
		return 0, err
	}
	bodyLen, err := msg.int64(slotMessageBodyLength)
	if err != nil {
		return 0, err
	}
	kind, err := msg.uint8(slotMessageHeaderType)
	if err != nil {
		return 0, err
	}
	header, ok, err := msg.table(slotMessageHeader)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, errors.New("no header")
	case first && kind != fbHeaderSchema:
		return 0, fmt.Errorf("starts with a message of type %d, not a schema", kind)
	case first:
		return bodyLen, fb.schema(header)
	case kind != fbHeaderRecordBatch:
		return 0, fmt.Errorf("message of type %d where a record batch belongs", kind)
	}
	comp, ok, err := header.table(slotBatchCompression)
	if err != nil || !ok {
		return bodyLen, err
	}
	codec, err := comp.uint8(slotCompressionCodec)
	if err != nil {
		return 0, err
	}
	if codec != fbCodecLZ4Frame {
		return 0, fmt.Errorf("compression codec %d (only LZ4 frames are accepted)", codec)
	}
	return bodyLen, nil
}

func (fb *flatbuf) schema(s fbTable) error {
	if endian, err := s.uint8(slotSchemaEndianness); err != nil || endian != 0 {
		return errors.Join(err, errors.New("schema is not little-endian"))
	}
	if err := fb.keyValues(s, slotSchemaMetadata); err != nil {
		return err
	}
	return fb.tables(s, slotSchemaFields, func(i int, f fbTable) error {
		if err := fb.field(f, true); err != nil {
			return fmt.Errorf("field %d: %w", i, err)
		}
		return nil
	})
}

// field checks one field: int, float, utf8 or bool, or (at the top, when top) a list of
// floats — a vector — whose one child is a float field.
func (fb *flatbuf) field(f fbTable, top bool) error {
	if _, err := fb.str(f, slotFieldName); err != nil {
		return err
	}
	typ, err := f.uint8(slotFieldTypeType)
	if err != nil {
		return err
	}
	switch {
	case typ == fbTypeInt, typ == fbTypeFloatingPoint, typ == fbTypeUtf8, typ == fbTypeBool:
	case typ == fbTypeList && top:
	default:
		return fmt.Errorf("type %d (want int, float, utf8, bool or a list of floats)", typ)
	}
	if _, ok, err := f.table(slotFieldType); err != nil || !ok {
		return fmt.Errorf("no type table: %w", errors.Join(err, errFlatbuffer))
	}
	if _, ok, err := f.ref(slotFieldDictionary); err != nil || ok {
		return fmt.Errorf("dictionary-encoded: %w", errors.Join(err, errFlatbuffer))
	}
	if typ != fbTypeList {
		if n, err := fb.vector(f, slotFieldChildren, 4); err != nil || n.len > 0 {
			return fmt.Errorf("nested: %w", errors.Join(err, errFlatbuffer))
		}
		return fb.keyValues(f, slotFieldMetadata)
	}
	if n, err := fb.vector(f, slotFieldChildren, 4); err != nil || n.len != 1 {
		return fmt.Errorf("a list with other than one child: %w", errors.Join(err, errFlatbuffer))
	}
	children := 0
	err = fb.tables(f, slotFieldChildren, func(_ int, c fbTable) error {
		children++
		if typ, err := c.uint8(slotFieldTypeType); err != nil || typ != fbTypeFloatingPoint {
			return fmt.Errorf("a list of other than floats: %w", errors.Join(err, errFlatbuffer))
		}
		return fb.field(c, false)
	})
	if err != nil {
		return err
	}
	if children != 1 {
		return fmt.Errorf("a list with %d children: %w", children, errFlatbuffer)
	}
	return fb.keyValues(f, slotFieldMetadata)
}

// keyValues checks a custom-metadata vector.
func (fb *flatbuf) keyValues(t fbTable, slot int) error {
	return fb.tables(t, slot, func(i int, kv fbTable) error {
		if _, err := fb.str(kv, slotKeyValueKey); err != nil {
			return fmt.Errorf("metadata %d: %w", i, err)
		}
		if _, err := fb.str(kv, slotKeyValueValue); err != nil {
			return fmt.Errorf("metadata %d: %w", i, err)
		}
		return nil
	})
}

var errFlatbuffer = errors.New("malformed flatbuffer")

// flatbuf is a flatbuffer under verification. left is how many bytes of strings and vectors
// may still be reached: each is counted every time it is reached, so sharing one (which only a
// forged buffer does) soon exhausts it.
type flatbuf struct {
	b    []byte
	left int
}

// fbTable is a verified table: its position and its vtable.
type fbTable struct {
	fb          *flatbuf
	pos, vtable int
	vsize, size int
}

func (fb *flatbuf) u32(pos int) (int, error) {
	if pos < 0 || pos > len(fb.b)-4 {
		return 0, fmt.Errorf("%w: offset %d out of %d bytes", errFlatbuffer, pos, len(fb.b))
	}
	return int(binary.LittleEndian.Uint32(fb.b[pos:])), nil
}

func (fb *flatbuf) u16(pos int) int { return int(binary.LittleEndian.Uint16(fb.b[pos:])) }

func (fb *flatbuf) root() (fbTable, error) {
	pos, err := fb.u32(0)
	if err != nil {
		return fbTable{}, err
	}
	return fb.tableAt(pos)
}

func (fb *flatbuf) tableAt(pos int) (fbTable, error) {
	soff, err := fb.u32(pos)
	if err != nil {
		return fbTable{}, err
	}
	vt := pos - int(int32(uint32(soff)))
	if vt < 0 || vt > len(fb.b)-4 {
		return fbTable{}, fmt.Errorf("%w: vtable at %d out of %d bytes", errFlatbuffer, vt, len(fb.b))
	}
	t := fbTable{fb: fb, pos: pos, vtable: vt, vsize: fb.u16(vt), size: fb.u16(vt + 2)}
	if t.vsize < 4 || t.vsize%2 != 0 || vt+t.vsize > len(fb.b) || t.size < 4 || pos+t.size > len(fb.b) {
		return fbTable{}, fmt.Errorf("%w: table at %d", errFlatbuffer, pos)
	}
	return t, nil
}

// field returns the position of a field of the table, or 0 when it is absent.
func (t fbTable) field(slot, size int) (int, error) {
	at := 4 + 2*slot
	if at+2 > t.vsize {
		return 0, nil
	}
	off := t.fb.u16(t.vtable + at)
	if off == 0 {
		return 0, nil
	}
	if off+size > t.size {
		return 0, fmt.Errorf("%w: field %d past its table", errFlatbuffer, slot)
	}
	return t.pos + off, nil
}

func (t fbTable) uint8(slot int) (uint8, error) {
	p, err := t.field(slot, 1)
	if err != nil || p == 0 {
		return 0, err
	}
	return t.fb.b[p], nil
}

func (t fbTable) int64(slot int) (int64, error) {
	p, err := t.field(slot, 8)
	if err != nil || p == 0 {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(t.fb.b[p:])), nil
}

// ref follows an offset field to what it points at.
func (t fbTable) ref(slot int) (int, bool, error) {
	p, err := t.field(slot, 4)
	if err != nil || p == 0 {
		return 0, false, err
	}
	off, err := t.fb.u32(p)
	if err != nil {
		return 0, false, err
	}
	return p + off, true, nil
}

func (t fbTable) table(slot int) (fbTable, bool, error) {
	p, ok, err := t.ref(slot)
	if err != nil || !ok {
		return fbTable{}, false, err
	}
	sub, err := t.fb.tableAt(p)
	return sub, err == nil, err
}

// fbVector is a verified vector: where its elements start and how many there are.
type fbVector struct{ start, len int }

// vector verifies a vector of elements of elem bytes (an absent one is empty) and charges it
// to the budget.
func (fb *flatbuf) vector(t fbTable, slot, elem int) (fbVector, error) {
	p, ok, err := t.ref(slot)
	if err != nil || !ok {
		return fbVector{}, err
	}
	n, err := fb.u32(p)
	if err != nil {
		return fbVector{}, err
	}
	start := p + 4
	if int64(n)*int64(elem) > int64(len(fb.b)-start) {
		return fbVector{}, fmt.Errorf("%w: vector of %d elements at %d out of %d bytes", errFlatbuffer, n, p, len(fb.b))
	}
	fb.left -= 4 + n*elem
	if fb.left < 0 {
		return fbVector{}, fmt.Errorf("%w: strings and vectors reached more than once", errFlatbuffer)
	}
	return fbVector{start: start, len: n}, nil
}

func (fb *flatbuf) str(t fbTable, slot int) (int, error) {
	v, err := fb.vector(t, slot, 1)
	return v.len, err
}

// tables verifies a vector of tables and calls check for each.
func (fb *flatbuf) tables(t fbTable, slot int, check func(i int, t fbTable) error) error {
	v, err := fb.vector(t, slot, 4)
	if err != nil {
		return err
	}
	for i := range v.len {
		p := v.start + 4*i
		off, err := fb.u32(p)
		if err != nil {
			return err
		}
		sub, err := fb.tableAt(p + off)
		if err != nil {
			return err
		}
		if err := check(i, sub); err != nil {
			return err
		}
	}
	return nil
}
