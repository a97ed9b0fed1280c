package wire

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Layout names every JetStream resource of one deployment, derived from a prefix so that two
// deployments can share a server.
type Layout struct {
	Prefix   string                // subject prefix and (upper-cased) stream prefix; default "rf"
	Replicas int                   // stream and bucket replicas; default 1
	Storage  jetstream.StorageType // stream storage; default file
	// MaxDeliver bounds deliveries of a prepared group; a group that exhausts them fails the run.
	MaxDeliver int
	// AckWait is how long a worker may hold a group without a progress heartbeat.
	AckWait time.Duration
}

// DefaultLayout is the layout of the design's table.
func DefaultLayout() Layout {
	return Layout{Prefix: "rf", Replicas: 1, Storage: jetstream.FileStorage, MaxDeliver: 5, AckWait: 30 * time.Second}
}

func (l Layout) upper() string { return strings.ToUpper(l.Prefix) }

// Stream names.
func (l Layout) GroupsStream() string   { return l.upper() + "_GROUPS" }
func (l Layout) OutcomesStream() string { return l.upper() + "_OUTCOMES" }
func (l Layout) SinkStream() string     { return l.upper() + "_SINK" }

// Bucket names.
func (l Layout) RunsBucket() string     { return l.Prefix + "_runs" }
func (l Layout) WorkersBucket() string  { return l.Prefix + "_workers" }
func (l Layout) PreviewBucket() string  { return l.Prefix + "_preview" }
func (l Layout) PayloadsBucket() string { return l.Prefix + "_payloads" }

// Durable consumer names shared by every instance of a stage.
const (
	WorkersConsumer = "workers"
	SinkdConsumer   = "sinkd"
)

// Outcome kinds, the third token of an outcome subject.
const (
	KindGroup = "group" // a worker's group outcome
	KindSink  = "sink"  // a sink's commit of a group
	KindDrain = "drain" // a worker's drain ack
	KindFinal = "final" // a sink's commit of the run's metadata
)

// Sink message kinds.
const (
	SinkGroup    = "group"
	SinkFinalize = "finalize"
	SinkAbort    = "abort"
)

// GroupSubject is where a prepared group is published.
func (l Layout) GroupSubject(run string, group int) string {
	return fmt.Sprintf("%s.groups.%s.%d", l.Prefix, run, group)
}

// GroupsOfRun matches every prepared group of a run.
func (l Layout) GroupsOfRun(run string) string { return fmt.Sprintf("%s.groups.%s.>", l.Prefix, run) }

// OutcomeSubject is where outcomes of a run go; id is a group index or a worker's id.
func (l Layout) OutcomeSubject(run, kind, id string) string {
	return fmt.Sprintf("%s.outcomes.%s.%s.%s", l.Prefix, run, kind, id)
}

// SinkSubject is where the controller sends finalized groups (id = group index) and the run's
// finalize and abort messages (id = "").
func (l Layout) SinkSubject(run, kind string, group int) string {
	if kind == SinkGroup {
		return fmt.Sprintf("%s.sink.%s.%s.%d", l.Prefix, run, kind, group)
	}
	return fmt.Sprintf("%s.sink.%s.%s", l.Prefix, run, kind)
}

// ControlSubject carries the run's broadcast control messages (abort).
func (l Layout) ControlSubject(run string) string { return l.Prefix + ".control." + run }

// RunConsumer names the controller's durable consumer of a run's group outcomes and drain acks.
func RunConsumer(run string) string { return "run-" + run }

// CommitConsumer names the durable consumer of a run's sink commits.
func CommitConsumer(run string) string { return "commits-" + run }

// Subject is a parsed rowforge subject: the run, the kind and the id (group index or name).
type Subject struct {
	Run, Kind, ID string
}

// ParseSubject splits `<prefix>.<area>.<run>[.<kind>[.<id>]]` for the area given ("groups",
// "outcomes", "sink", "control"). For groups, Kind is empty and ID is the group index.
func (l Layout) ParseSubject(area, subject string) (Subject, error) {
	parts := strings.Split(subject, ".")
	if len(parts) < 3 || parts[0] != l.Prefix || parts[1] != area {
		return Subject{}, fmt.Errorf("subject %q is not a %s.%s subject", subject, l.Prefix, area)
	}
	s := Subject{Run: parts[2]}
	switch {
	case area == "groups" && len(parts) == 4:
		s.ID = parts[3]
	case area == "control" && len(parts) == 3:
	case (area == "outcomes" || area == "sink") && len(parts) == 5:
		s.Kind, s.ID = parts[3], parts[4]
	case area == "sink" && len(parts) == 4:
		s.Kind = parts[3]
	default:
		return Subject{}, fmt.Errorf("subject %q has an unexpected shape", subject)
	}
	if s.Run == "" {
		return Subject{}, fmt.Errorf("subject %q names no run", subject)
	}
	return s, nil
}

// GroupIndex parses a group index token.
func GroupIndex(id string) (int, error) {
	g, err := strconv.Atoi(id)
	if err != nil || g < 0 {
		return 0, fmt.Errorf("bad group index %q", id)
	}
	return g, nil
}

// Resources are the buckets of a deployment, opened by Ensure.
type Resources struct {
	Runs     jetstream.KeyValue
	Workers  jetstream.KeyValue
	Preview  jetstream.KeyValue
	Payloads jetstream.ObjectStore
}

// Ensure creates or updates every stream, shared consumer and bucket of the layout. Every
// process calls it at start, so whichever starts first prepares the server; it is idempotent.
func (l Layout) Ensure(ctx context.Context, js jetstream.JetStream) (*Resources, error) {
	streams := []jetstream.StreamConfig{
		{Name: l.GroupsStream(), Subjects: []string{l.Prefix + ".groups.>"}},
		{Name: l.OutcomesStream(), Subjects: []string{l.Prefix + ".outcomes.>"}},
		{Name: l.SinkStream(), Subjects: []string{l.Prefix + ".sink.>"}},
	}
	for _, sc := range streams {
		sc.Retention = jetstream.WorkQueuePolicy
		sc.Storage = l.Storage
		sc.Replicas = l.Replicas
		sc.Duplicates = 2 * time.Minute
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	consumers := []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{l.GroupsStream(), jetstream.ConsumerConfig{Durable: WorkersConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: l.AckWait, MaxDeliver: l.MaxDeliver, MaxAckPending: 10000}},
		{l.SinkStream(), jetstream.ConsumerConfig{Durable: SinkdConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: time.Minute, MaxDeliver: 10, MaxAckPending: 10000}},
	}
	for _, c := range consumers {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.stream, c.cfg); err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.stream, err)
		}
	}
	var res Resources
	var err error
	if res.Runs, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: l.RunsBucket(), Storage: l.Storage, Replicas: l.Replicas, History: 1,
	}); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", l.RunsBucket(), err)
	}
	if res.Workers, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: l.WorkersBucket(), Storage: jetstream.MemoryStorage, Replicas: l.Replicas, TTL: 15 * time.Second,
	}); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", l.WorkersBucket(), err)
	}
	if res.Preview, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: l.PreviewBucket(), Storage: jetstream.MemoryStorage, Replicas: l.Replicas, TTL: time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", l.PreviewBucket(), err)
	}
	if res.Payloads, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: l.PayloadsBucket(), Storage: l.Storage, Replicas: l.Replicas, TTL: 24 * time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("object store %s: %w", l.PayloadsBucket(), err)
	}
	return &res, nil
}
