package broker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rowforge/rowforge/pkg/wire"
	"github.com/stretchr/testify/require"
)

// The ledger of one run is read whole and purged whole, without touching another run's.
func TestLedgerReadAndPurge(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	l := wire.DefaultLayout()
	res, err := Ensure(b.ctx, b.js, l)
	require.NoError(t, err)
	put := func(run string, g int, end wire.GroupEnd) {
		body, _ := json.Marshal(end)
		_, err := res.Commits.Put(b.ctx, wire.LedgerKey(run, g), body)
		require.NoError(t, err)
	}
	empty, err := ReadLedger(b.ctx, res.Commits, "a")
	require.NoError(t, err)
	require.Empty(t, empty, "a run with no entries has an empty ledger")

	for g := range 3 {
		put("a", g, wire.GroupEnd{Status: wire.EndCommitted, Commit: &wire.Commit{Group: g, Rows: 10, Path: "p"}})
	}
	put("a", 3, wire.GroupEnd{Status: wire.EndDropped})
	put("ab", 0, wire.GroupEnd{Status: wire.EndDropped}) // a run whose id extends another's

	ends, err := ReadLedger(b.ctx, res.Commits, "a")
	require.NoError(t, err)
	require.Len(t, ends, 4)
	require.Equal(t, wire.EndDropped, ends[3].Status)
	require.Equal(t, 10, ends[1].Commit.Rows)

	require.NoError(t, PurgeLedger(b.ctx, b.js, l, "a"))
	ends, err = ReadLedger(b.ctx, res.Commits, "a")
	require.NoError(t, err)
	require.Empty(t, ends)
	other, err := ReadLedger(b.ctx, res.Commits, "ab")
	require.NoError(t, err)
	require.Len(t, other, 1, "purging a run's ledger leaves other runs' alone")

	_, err = res.Commits.Put(b.ctx, wire.LedgerKey("bad", 0), []byte("{"))
	require.NoError(t, err)
	_, err = ReadLedger(b.ctx, res.Commits, "bad")
	require.ErrorContains(t, err, "ledger entry bad.0")
}

func TestReplyIDDerivesFromTheRequest(t *testing.T) {
	t.Parallel()
	b := setupJS(t)
	_, err := Ensure(b.ctx, b.js, wire.DefaultLayout())
	require.NoError(t, err)
	l := wire.DefaultLayout()
	msg := &nats.Msg{Subject: l.GroupSubject("r", 1), Header: nats.Header{}}
	msg.Header.Set("Nats-Msg-Id", "r/1/prepared/e2")
	_, err = b.js.PublishMsg(b.ctx, msg)
	require.NoError(t, err)
	_, err = b.js.Publish(b.ctx, l.GroupSubject("r", 2), nil) // no id: a message typed by hand
	require.NoError(t, err)

	cons, err := b.js.Consumer(b.ctx, l.GroupsStream(), wire.WorkersConsumer)
	require.NoError(t, err)
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(10*time.Second)) // returns once both are there
	require.NoError(t, err)
	var ids []string
	for m := range batch.Messages() {
		ids = append(ids, wire.ReplyID(m, "outcome", "fallback"))
	}
	require.Equal(t, []string{"r/1/prepared/e2/outcome", "fallback"}, ids)
}
