package processors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/natstest"
	"github.com/rowforge/rowforge/pkg/frame"
)

// natsBundle is an embedded server with a client connection for the processors and one for
// the services.
type natsBundle struct {
	nc  *nats.Conn // the controller's
	svc *nats.Conn // the services'
}

func setupNATS(t *testing.T) natsBundle {
	t.Helper()
	s := natstest.RunServer(t)
	return natsBundle{nc: natstest.Connect(t, s), svc: natstest.Connect(t, s)}
}

// request is what a service received.
type request struct {
	Header nats.Header
	Rows   int
}

// upperService subscribes a service that upper-cases the name column and adds the group
// from the request's header, as a user's service written with plain JSON tools would.
func upperService(t *testing.T, nc *nats.Conn, subject string) <-chan request {
	t.Helper()
	got := make(chan request, 10)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var out bytes.Buffer
		rows := 0
		sc := bufio.NewScanner(bytes.NewReader(m.Data))
		for sc.Scan() {
			var row map[string]any
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.UseNumber()
			if err := dec.Decode(&row); err != nil {
				reply := nats.NewMsg(m.Reply)
				reply.Header.Set("Rowforge-Error", err.Error())
				_ = m.RespondMsg(reply)
				return
			}
			if s, ok := row["name"].(string); ok {
				row["name"] = strings.ToUpper(s)
			}
			row["group"] = json.Number(m.Header.Get("Rowforge-Group"))
			b, _ := json.Marshal(row)
			out.Write(append(b, '\n'))
			rows++
		}
		got <- request{Header: m.Header, Rows: rows}
		_ = m.Respond(out.Bytes())
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return got
}

func TestNATSService(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	got := upperService(t, b.svc, "svc.upper")
	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.upper, stage: pre_batch}]", b.nc)
	require.Len(t, procs, 1)

	res, err := Run(context.Background(), procs[0], 4, testGroup(t))
	require.NoError(t, err)
	require.Equal(t, []column{
		col("name", frame.String, "ANN", "BOB", nil),
		col("n", frame.Int, int64(1), int64(2), nil),
		col("score", frame.Float, 0.5, 2.0, nil),
		col("ok", frame.Bool, false, true, nil),
		col("tmp_a", frame.String, "a0", "a1", "a2"),
		col("tmp_b", frame.String, "b0", "b1", "b2"),
		col("group", frame.Int, int64(4), int64(4), int64(4)),
	}, columns(res.Frame))

	req := <-got
	require.Equal(t, 3, req.Rows)
	require.Equal(t, "remote", req.Header.Get(HeaderProcessor))
	require.Equal(t, "pre_batch", req.Header.Get(HeaderStage))
	require.Equal(t, "4", req.Header.Get(HeaderGroup))
}

func TestNATSErrorReply(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	sub, err := b.svc.Subscribe("svc.fail", func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set("rowforge-error", "model exploded") // any letter case
		_ = m.RespondMsg(reply)
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.svc.Flush())

	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.fail}]", b.nc)
	_, err = Run(context.Background(), procs[0], 2, testGroup(t))
	serr, ok := errors.AsType[*ServiceError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "model exploded", serr.Msg)
	require.EqualError(t, err, `processor "remote" (post_batch, row group 2): the service on svc.fail replied with an error: model exploded`)
}

func TestNATSNoResponders(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.nobody}]", b.nc)
	_, err := Run(context.Background(), procs[0], 0, testGroup(t))
	require.ErrorIs(t, err, nats.ErrNoResponders)
	require.ErrorContains(t, err, `processor "remote" (post_batch, row group 0): no service listens on svc.nobody`)
}

func TestNATSTimeout(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	// A service that takes the request and never replies: a real timeout of 0.2 s.
	sub, err := b.svc.SubscribeSync("svc.silent")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.svc.Flush())

	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.silent, timeout: 0.2}]", b.nc)
	_, err = Run(context.Background(), procs[0], 0, testGroup(t))
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorContains(t, err, "request on svc.silent timed out after 0.2 s")
}

func TestNATSBadReply(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	sub, err := b.svc.Subscribe("svc.bad", func(m *nats.Msg) { _ = m.Respond([]byte(`{"n": true}`)) })
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.svc.Flush())

	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.bad}]", b.nc)
	_, err = Run(context.Background(), procs[0], 0, testGroup(t))
	require.ErrorContains(t, err, `reply on svc.bad: row 0 (line 1), column "n": want int, got true`)
}

func TestNATSCancelled(t *testing.T) {
	t.Parallel()
	b := setupNATS(t)
	sub, err := b.svc.SubscribeSync("svc.slow")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, b.svc.Flush())

	procs := buildWith(t, "processors: [{name: remote, processor_type: nats, subject: svc.slow}]", b.nc)
	ctx, cancel := context.WithCancel(context.Background())
	in := testGroup(t)
	errc := make(chan error, 1)
	go func() {
		_, err := procs[0].Process(ctx, 0, in)
		errc <- err
	}()
	_, err = sub.NextMsg(natstest.ReadyTimeout) // the request is in flight
	require.NoError(t, err)
	cancel()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrTimeout)
}
