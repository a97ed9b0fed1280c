package sinks

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// EncodeIPC serializes one record as an Arrow IPC stream (schema message, one batch, end of
// stream). IPC keeps types and nulls exactly and decodes without parsing, which is why row
// groups travel and rest in it rather than in JSON.
func EncodeIPC(rec arrow.RecordBatch) ([]byte, error) {
	if rec == nil {
		return nil, errors.New("sinks: encode ipc: nil record")
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sinks: encode ipc: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("sinks: encode ipc: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeIPC reads an Arrow IPC stream holding exactly one record, as EncodeIPC writes it. More
// or fewer is an error rather than a silent truncation. The caller releases the record.
func DecodeIPC(b []byte) (arrow.RecordBatch, error) {
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("sinks: decode ipc: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("sinks: decode ipc: %w", err)
		}
		return nil, errors.New("sinks: decode ipc: stream holds no record")
	}
	rec := r.RecordBatch()
	rec.Retain() // the reader releases its current record on Next and Release
	if r.Next() {
		rec.Release()
		return nil, errors.New("sinks: decode ipc: stream holds more than one record")
	}
	if err := r.Err(); err != nil {
		rec.Release()
		return nil, fmt.Errorf("sinks: decode ipc: %w", err)
	}
	return rec, nil
}
