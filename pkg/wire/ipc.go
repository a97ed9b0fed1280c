package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// EncodeRecord encodes one record batch as an Arrow IPC stream.
func EncodeRecord(rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithLZ4())
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrNoRecord is returned for an IPC stream that holds a schema but no record batch.
var ErrNoRecord = errors.New("ipc stream holds no record batch")

// DecodeRecord decodes the single record batch of an Arrow IPC stream. The caller releases it.
// The Arrow reader trusts lengths in its input; a malformed body from the wire must not take the
// process down, so a panic inside it becomes an error.
func DecodeRecord(body []byte) (rec arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
			}
			rec, err = nil, fmt.Errorf("decode record: malformed ipc stream: %v", p)
		}
	}()
	r, err := ipc.NewReader(bytes.NewReader(body), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if r.Err() != nil {
			return nil, fmt.Errorf("decode record: %w", r.Err())
		}
		return nil, ErrNoRecord
	}
	rec = r.RecordBatch()
	rec.Retain()
	if err := validate(rec); err != nil {
		rec.Release()
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

// validate checks lengths and offsets so that later reads of the record cannot run past its
// buffers.
func validate(rec arrow.RecordBatch) error {
	for i := range int(rec.NumCols()) {
		col := rec.Column(i)
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q has %d rows, record %d", rec.ColumnName(i), col.Len(), rec.NumRows())
		}
		if err := array.ValidateFull(col); err != nil {
			return fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return nil
}
