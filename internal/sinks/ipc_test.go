package sinks_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/sinks/sinktest"
)

func TestIPCRoundTrip(t *testing.T) {
	t.Parallel()
	rec := sinktest.Record(3, 50)
	defer rec.Release()
	b, err := sinks.EncodeIPC(rec)
	require.NoError(t, err)
	got, err := sinks.DecodeIPC(b)
	require.NoError(t, err)
	defer got.Release()
	require.True(t, array.RecordEqual(rec, got))
}

func TestDecodeIPCRejects(t *testing.T) {
	t.Parallel()
	rec := sinktest.Record(0, 2)
	defer rec.Release()
	b, err := sinks.EncodeIPC(rec)
	require.NoError(t, err)

	var two, none bytes.Buffer
	w := ipc.NewWriter(&two, ipc.WithSchema(rec.Schema()))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	w = ipc.NewWriter(&none, ipc.WithSchema(rec.Schema()))
	require.NoError(t, w.Close())

	for name, in := range map[string][]byte{
		"garbage":     []byte("not arrow"),
		"truncated":   b[:len(b)/2],
		"two records": two.Bytes(),
		"no record":   none.Bytes(),
	} {
		_, err := sinks.DecodeIPC(in)
		require.Error(t, err, name)
	}

	_, err = sinks.EncodeIPC(nil)
	require.Error(t, err)
}
