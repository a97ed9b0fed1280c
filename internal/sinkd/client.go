package sinkd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Client is the controller's Sink for a run whose groups sinkd writes: it publishes each
// finalized group to the sink stream and returns when sinkd's commit arrives on the run's
// commit consumer.
type Client struct {
	js     jetstream.JetStream
	layout wire.Layout
	run    string
	pub    *broker.Publisher
	log    *slog.Logger
	cc     jetstream.ConsumeContext
	// gaveUp follows sinkd's consumer giving up on a message: a group or finalize of this run
	// that exhausted its deliveries would otherwise leave its waiter waiting forever.
	gaveUp *nats.Subscription

	mu      sync.Mutex
	waiters map[int]chan answer // group, or finalKey
	// committed holds the successful commits received, by the same key. A repeated write of a
	// group returns its commit from here: its message would carry the same Nats-Msg-Id, which
	// the sink stream drops as a duplicate, so sinkd would never answer it.
	committed map[int]wire.SinkCommit
	dir       string
	// incarnation sets this client's message ids apart from those of a controller of the same
	// run that stopped: the sink stream would drop its messages as that one's duplicates.
	incarnation string
}

var _ lifecycle.Sink = (*Client)(nil)

const finalKey = -1

// answer ends a wait: sinkd's commit, or err when there will be none.
type answer struct {
	commit wire.SinkCommit
	err    error
}

// NewClient opens the run's commit consumer. Close stops it.
func NewClient(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *broker.Resources, run string, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Client{js: js, layout: layout, run: run, log: log, waiters: map[int]chan answer{},
		committed: map[int]wire.SinkCommit{}, pub: broker.NewPublisher(js, res.Payloads, nc.MaxPayload()),
		incarnation: uuid.NewString()[:8]}
	// A consumer a stopped controller left holds the commits it had in hand until their AckWait;
	// a new one delivers every commit still in the stream now.
	if err := js.DeleteConsumer(ctx, layout.OutcomesStream(), wire.CommitConsumer(run)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("sink commit consumer: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, layout.OutcomesStream(), jetstream.ConsumerConfig{
		Durable: wire.CommitConsumer(run),
		FilterSubjects: []string{
			layout.OutcomeSubject(run, wire.KindSink, "*"),
			layout.OutcomeSubject(run, wire.KindFinal, "*"),
		},
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("sink commit consumer: %w", err)
	}
	if c.gaveUp, err = nc.Subscribe(layout.SinkMaxDeliveriesSubject(), c.onMaxDeliveries(ctx)); err != nil {
		return nil, fmt.Errorf("subscribe to sinkd's max-deliveries advisories: %w", err)
	}
	if c.cc, err = cons.Consume(c.receive); err != nil {
		_ = c.gaveUp.Unsubscribe()
		return nil, fmt.Errorf("consume sink commits: %w", err)
	}
	return c, nil
}

// DeliveriesExhaustedError is a group (or the finalize, Group -1) sinkd did not manage to
// handle in as many deliveries as its consumer allows; sinkd's log says why.
type DeliveriesExhaustedError struct {
	Group      int
	Deliveries uint64
}

func (e *DeliveriesExhaustedError) Error() string {
	what := fmt.Sprintf("group %d", e.Group)
	if e.Group == finalKey {
		what = "the finalize message"
	}
	return fmt.Sprintf("sinkd gave up on %s after %d deliveries (see its log)", what, e.Deliveries)
}

// onMaxDeliveries fails the waiter of a message of this run that sinkd's consumer gave up on.
// The message stays in the work-queue stream, so its subject says whose it is.
func (c *Client) onMaxDeliveries(ctx context.Context) nats.MsgHandler {
	return func(m *nats.Msg) {
		a, err := wire.DecodeMaxDeliveries(m.Data)
		if err != nil {
			c.log.Warn("ignored an advisory", "err", err)
			return
		}
		stream, err := c.js.Stream(ctx, c.layout.SinkStream())
		if err != nil {
			c.log.Warn("cannot read back a message sinkd gave up on", "seq", a.StreamSeq, "err", err)
			return
		}
		msg, err := stream.GetMsg(ctx, a.StreamSeq)
		if err != nil {
			c.log.Warn("cannot read back a message sinkd gave up on", "seq", a.StreamSeq, "err", err)
			return
		}
		subj, err := c.layout.ParseSubject("sink", msg.Subject)
		if err != nil || subj.Run != c.run {
			return
		}
		key := finalKey
		switch subj.Kind {
		case wire.SinkGroup:
			if key, err = wire.GroupIndex(subj.ID); err != nil {
				return
			}
		case wire.SinkFinalize:
		default:
			return // a discard: nobody waits for it
		}
		c.fail(key, &DeliveriesExhaustedError{Group: key, Deliveries: a.Deliveries})
	}
}

// Dir is where sinkd put the dataset, known once a commit has arrived.
func (c *Client) Dir() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dir
}

func (c *Client) receive(m jetstream.Msg) {
	subj, err := c.layout.ParseSubject("outcomes", m.Subject())
	if err != nil || subj.Run != c.run {
		jsx.Term(c.log, m, "not a sink commit of run "+c.run)
		return
	}
	commit, err := wire.DecodeSinkCommit(m.Data())
	if err != nil {
		jsx.Term(c.log, m, err.Error())
		return
	}
	key := finalKey
	if subj.Kind == wire.KindSink {
		if key, err = wire.GroupIndex(subj.ID); err != nil {
			jsx.Term(c.log, m, err.Error())
			return
		}
	}
	c.mu.Lock()
	if commit.Dir != "" {
		c.dir = commit.Dir
	}
	if commit.Error == "" {
		c.committed[key] = *commit
	}
	w := c.waiters[key]
	delete(c.waiters, key)
	c.mu.Unlock()
	if w != nil {
		w <- answer{commit: *commit} // buffered: never blocks
	} // else a duplicate of a commit already taken
	_ = m.Ack()
}

// fail ends the wait for key with err, if anyone waits for it.
func (c *Client) fail(key int, err error) {
	c.mu.Lock()
	w := c.waiters[key]
	delete(c.waiters, key)
	c.mu.Unlock()
	if w != nil {
		w <- answer{err: err} // buffered: never blocks
	}
}

func (c *Client) wait(ctx context.Context, key int, publish func() error) (wire.SinkCommit, error) {
	ch := make(chan answer, 1)
	c.mu.Lock()
	if commit, ok := c.committed[key]; ok { // already durable: publishing again would be deduplicated
		c.mu.Unlock()
		return commit, nil
	}
	c.waiters[key] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, key)
		c.mu.Unlock()
	}()
	if err := publish(); err != nil {
		return wire.SinkCommit{}, err
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return wire.SinkCommit{}, a.err
		}
		if a.commit.Error != "" {
			return a.commit, errors.New(a.commit.Error)
		}
		return a.commit, nil
	case <-ctx.Done():
		return wire.SinkCommit{}, context.Cause(ctx)
	}
}

// WriteGroup implements lifecycle.Sink: it publishes g, its main record and its sides, as one
// group container (wire.EncodeGroup, each Side.Dir as its part's name) and returns sinkd's
// commit, whose Sides say where each side went. A group the container cannot hold (a nil
// record, a side Dir that is not a clean relative path, a Dir twice, more than
// wire.MaxGroupParts-1 sides) fails here, before anything is published; sinkd's sink may refuse
// more (see sinks.ErrInvalidSide), which comes back as the error.
func (c *Client) WriteGroup(ctx context.Context, g lifecycle.Group) (wire.Commit, error) {
	var sides []wire.NamedRecord
	if len(g.Sides) > 0 {
		sides = make([]wire.NamedRecord, len(g.Sides))
		for i, s := range g.Sides {
			sides[i] = wire.NamedRecord{Name: s.Dir, Rec: s.Rec}
		}
	}
	body, err := wire.EncodeGroup(g.Main, sides)
	if err != nil {
		return wire.Commit{}, fmt.Errorf("sinkd: write group %d: %w", g.Index, err)
	}
	commit, err := c.wait(ctx, g.Index, func() error {
		return c.pub.Publish(ctx, c.layout.SinkSubject(c.run, wire.SinkGroup, g.Index),
			fmt.Sprintf("%s/%d/sink/%s", c.run, g.Index, c.incarnation), nats.Header{
				wire.HeaderRun: []string{c.run}, wire.HeaderGroup: []string{strconv.Itoa(g.Index)},
			}, body)
	})
	return commit.Commit, err
}

// Finalize implements lifecycle.Sink.
func (c *Client) Finalize(ctx context.Context, meta wire.Metadata) error {
	body, err := json.Marshal(wire.Finalize{Metadata: meta, BuilderConfig: meta.BuilderConfig})
	if err != nil {
		return err
	}
	_, err = c.wait(ctx, finalKey, func() error {
		return c.pub.Publish(ctx, c.layout.SinkSubject(c.run, wire.SinkFinalize, 0), c.run+"/finalize/"+c.incarnation, nil, body)
	})
	return err
}

// Discard implements lifecycle.Sink: sinkd removes the run's partial files when it gets to the
// message. It does not wait for that.
func (c *Client) Discard(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"run": c.run})
	return c.pub.Publish(ctx, c.layout.SinkSubject(c.run, wire.SinkAbort, 0), c.run+"/abort/"+c.incarnation, nil, body)
}

// Close stops consuming commits and deletes the run's commit consumer.
func (c *Client) Close(ctx context.Context) {
	_ = c.gaveUp.Unsubscribe()
	c.cc.Stop()
	<-c.cc.Closed()
	if err := c.js.DeleteConsumer(ctx, c.layout.OutcomesStream(), wire.CommitConsumer(c.run)); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		c.log.Debug("could not delete the commit consumer", "err", err)
	}
}
