package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Layout names every JetStream resource of one deployment, derived from a prefix so that two
// deployments can share a server.
//
// A zero field means its DefaultLayout value, so Layout{} names the same resources as
// DefaultLayout().
type Layout struct {
	Prefix   string                // subject prefix and (upper-cased) stream prefix; default "rf"
	Replicas int                   // stream and bucket replicas; default 1
	Storage  jetstream.StorageType // stream storage; default file
	// MaxDeliver bounds deliveries of a prepared group; a group that exhausts them fails the
	// run. Default 5 (never unlimited: a poison group would be redelivered forever).
	MaxDeliver int
	// AckWait is how long a worker may hold a group without a progress heartbeat; default 30 s.
	AckWait time.Duration
	// PreviewTTL is how long a preview's groups stay in the preview bucket; default 1 h.
	PreviewTTL time.Duration
}

// DefaultLayout is the layout of the design's table.
func DefaultLayout() Layout {
	return Layout{Prefix: defaultPrefix, Replicas: 1, Storage: jetstream.FileStorage,
		MaxDeliver: defaultMaxDeliver, AckWait: defaultAckWait}
}

// Defaults of a zero Layout field.
const (
	defaultPrefix     = "rf"
	defaultMaxDeliver = 5
	defaultAckWait    = 30 * time.Second
)

func (l Layout) previewTTL() time.Duration {
	if l.PreviewTTL <= 0 {
		return time.Hour
	}
	return l.PreviewTTL
}

// prefix is the subject prefix, defaulted.
func (l Layout) prefix() string {
	if l.Prefix == "" {
		return defaultPrefix
	}
	return l.Prefix
}

func (l Layout) upper() string { return strings.ToUpper(l.prefix()) }

// Stream names.
func (l Layout) GroupsStream() string   { return l.upper() + "_GROUPS" }
func (l Layout) OutcomesStream() string { return l.upper() + "_OUTCOMES" }
func (l Layout) SinkStream() string     { return l.upper() + "_SINK" }

// Bucket names.
func (l Layout) RunsBucket() string     { return l.prefix() + "_runs" }
func (l Layout) WorkersBucket() string  { return l.prefix() + "_workers" }
func (l Layout) PreviewBucket() string  { return l.prefix() + "_preview" }
func (l Layout) PayloadsBucket() string { return l.prefix() + "_payloads" }
func (l Layout) CommitsBucket() string  { return l.prefix() + "_commits" }
func (l Layout) SeatsBucket() string    { return l.prefix() + "_seats" }
func (l Layout) CellsBucket() string    { return l.prefix() + "_cells" }

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
	return fmt.Sprintf("%s.groups.%s.%d", l.prefix(), run, group)
}

// GroupsOfRun matches every prepared group of a run.
func (l Layout) GroupsOfRun(run string) string { return fmt.Sprintf("%s.groups.%s.>", l.prefix(), run) }

// OutcomeSubject is where outcomes of a run go; id is a group index or a worker's id.
func (l Layout) OutcomeSubject(run, kind, id string) string {
	return fmt.Sprintf("%s.outcomes.%s.%s.%s", l.prefix(), run, kind, id)
}

// SinkSubject is where the controller sends finalized groups (id = group index) and the run's
// finalize and abort messages (id = "").
func (l Layout) SinkSubject(run, kind string, group int) string {
	if kind == SinkGroup {
		return fmt.Sprintf("%s.sink.%s.%s.%d", l.prefix(), run, kind, group)
	}
	return fmt.Sprintf("%s.sink.%s.%s", l.prefix(), run, kind)
}

// ControlSubject carries the run's broadcast control messages (abort).
func (l Layout) ControlSubject(run string) string { return l.prefix() + ".control." + run }

// ProgressSubject carries the workers' progress reports of a run (ProgressReport), on core
// NATS: no stream captures it, a report nobody listens to is gone, and the next one says
// everything the lost one did.
func (l Layout) ProgressSubject(run string) string { return l.prefix() + ".progress." + run }

// RunConsumer names the controller's durable consumer of a run's group outcomes and drain acks.
func RunConsumer(run string) string { return "run-" + run }

// CommitConsumer names the durable consumer of a run's sink commits.
func CommitConsumer(run string) string { return "commits-" + run }

// Subject is a parsed rowforge subject: the run, the kind and the id (group index or name).
type Subject struct {
	Run, Kind, ID string
}

// ValidToken reports whether s can be one token of a rowforge subject: a run id, an outcome
// kind or an id. The subject builders do not check their arguments; a token holding a '.'
// silently shifts the others (SinkSubject("a.group", "x", 0) reads back as run "a", kind
// "group", id "x"), so ids that come from users (a run id given on the command line) must be
// checked with ValidToken before they are used.
func ValidToken(s string) error {
	if s == "" {
		return errors.New("empty subject token")
	}
	for _, r := range s {
		if r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("subject token %q holds %q (no '.', '*', '>', spaces or control characters)", s, r)
		}
	}
	return nil
}

// ParseSubject splits `<prefix>.<area>.<run>[.<kind>[.<id>]]` for the area given ("groups",
// "outcomes", "sink", "control", "progress"), accepting exactly the shapes the builders produce:
//
//	groups    <prefix>.groups.<run>.<group>          Kind empty, ID the group index
//	outcomes  <prefix>.outcomes.<run>.<kind>.<id>
//	sink      <prefix>.sink.<run>.group.<group>      Kind SinkGroup, ID the group index
//	sink      <prefix>.sink.<run>.<kind>             any other kind, ID empty
//	control   <prefix>.control.<run>
//	progress  <prefix>.progress.<run>
//
// Every token it returns passes ValidToken. It does not check that a group ID is a number:
// that is GroupIndex's job.
func (l Layout) ParseSubject(area, subject string) (Subject, error) {
	parts := strings.Split(subject, ".")
	if len(parts) < 3 || parts[0] != l.prefix() || parts[1] != area {
		return Subject{}, fmt.Errorf("subject %q is not a %s.%s subject", subject, l.prefix(), area)
	}
	if parts[2] == "" {
		return Subject{}, fmt.Errorf("subject %q names no run", subject)
	}
	for _, tok := range parts[2:] {
		if err := ValidToken(tok); err != nil {
			return Subject{}, fmt.Errorf("subject %q: %w", subject, err)
		}
	}
	s := Subject{Run: parts[2]}
	switch {
	case area == "groups" && len(parts) == 4:
		s.ID = parts[3]
	case (area == "control" || area == "progress") && len(parts) == 3:
	case area == "outcomes" && len(parts) == 5:
		s.Kind, s.ID = parts[3], parts[4]
	case area == "sink" && len(parts) == 5 && parts[3] == SinkGroup:
		s.Kind, s.ID = parts[3], parts[4]
	case area == "sink" && len(parts) == 4 && parts[3] != SinkGroup:
		s.Kind = parts[3]
	default:
		return Subject{}, fmt.Errorf("subject %q has an unexpected shape", subject)
	}
	return s, nil
}

// GroupIndex parses a group index token: a non-negative decimal number written the way
// GroupSubject writes it ("7", not "07" or "+7"), so that one group has one subject.
func GroupIndex(id string) (int, error) {
	g, err := strconv.Atoi(id)
	if err != nil || g < 0 || strconv.Itoa(g) != id {
		return 0, fmt.Errorf("bad group index %q", id)
	}
	return g, nil
}

// The deployment's resources, as configurations: what they are is part of the contract (every
// process must agree on retention, acks and TTLs); creating them is the broker package's job.

// Streams are the layout's streams. Each is a work queue: a message is gone once acked, and the
// duplicate window swallows the repeats of a publish retried after a lost reply.
func (l Layout) Streams() []jetstream.StreamConfig {
	streams := []jetstream.StreamConfig{
		{Name: l.GroupsStream(), Subjects: []string{l.prefix() + ".groups.>"}},
		{Name: l.OutcomesStream(), Subjects: []string{l.prefix() + ".outcomes.>"}},
		{Name: l.SinkStream(), Subjects: []string{l.prefix() + ".sink.>"}},
	}
	for i := range streams {
		streams[i].Retention = jetstream.WorkQueuePolicy
		streams[i].Storage = l.Storage
		streams[i].Replicas = l.Replicas
		streams[i].Duplicates = 2 * time.Minute
	}
	return streams
}

// SharedConsumer is a durable consumer every instance of a stage pulls from.
type SharedConsumer struct {
	Stream string
	Config jetstream.ConsumerConfig
}

// Consumers are the layout's shared consumers: the workers' on the groups stream, sinkd's on the
// sink stream. Per-run consumers (RunConsumer, CommitConsumer) are the controller's own.
func (l Layout) Consumers() []SharedConsumer {
	maxDeliver, ackWait := l.MaxDeliver, l.AckWait
	if maxDeliver <= 0 {
		maxDeliver = defaultMaxDeliver
	}
	if ackWait <= 0 {
		ackWait = defaultAckWait
	}
	return []SharedConsumer{
		{l.GroupsStream(), jetstream.ConsumerConfig{Durable: WorkersConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: ackWait, MaxDeliver: maxDeliver, MaxAckPending: 10000}},
		{l.SinkStream(), jetstream.ConsumerConfig{Durable: SinkdConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: time.Minute, MaxDeliver: 10, MaxAckPending: 10000}},
	}
}

// Buckets are the layout's key-value buckets. What lives only as long as a process (worker
// records, seats, previews) is in memory; what a resume needs (runs, the ledger, kept cells) is
// stored like the streams.
func (l Layout) Buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: l.RunsBucket(), Storage: l.Storage, Replicas: l.Replicas, History: 1},
		{Bucket: l.WorkersBucket(), Storage: jetstream.MemoryStorage, Replicas: l.Replicas, TTL: 15 * time.Second},
		{Bucket: l.PreviewBucket(), Storage: jetstream.MemoryStorage, Replicas: l.Replicas, TTL: l.previewTTL()},
		{Bucket: l.CommitsBucket(), Storage: l.Storage, Replicas: l.Replicas, History: 1},
		{Bucket: l.SeatsBucket(), Storage: jetstream.MemoryStorage, Replicas: l.Replicas, TTL: SeatTTL},
		{Bucket: l.CellsBucket(), Storage: l.Storage, Replicas: l.Replicas, History: 1, TTL: 24 * time.Hour},
	}
}

// PayloadStore is the object store of offloaded bodies (see HeaderPayload).
func (l Layout) PayloadStore() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{Bucket: l.PayloadsBucket(), Storage: l.Storage, Replicas: l.Replicas, TTL: 24 * time.Hour}
}

// SeatTTL is how long a seat outlives the worker that stopped renewing it.
const SeatTTL = 15 * time.Second

// SeatKey names seat i of a model of a run in rf_seats. A model's max_parallel_requests is its
// number of seats; a worker sends at most as many requests at once as it holds seats, so the
// endpoint never sees more than the cap, whichever workers come and go.
func SeatKey(run, model string, i int) string {
	return fmt.Sprintf("%s.%s.%d", run, WorkerKey(model), i)
}

// CellKey names a cell a worker generated for a group still in progress: the model calls a
// group's next delivery does not make again after a worker died. The column name is encoded
// (base64url) because column names may hold any character.
func CellKey(run string, group int, column string, row int) string {
	return fmt.Sprintf("%s.%d.%s.%d", run, group, base64.RawURLEncoding.EncodeToString([]byte(column)), row)
}

// CellsOf is the key filter of a group's cells; group < 0 selects every group of the run.
func CellsOf(run string, group int) string {
	if group < 0 {
		return run + ".>"
	}
	return fmt.Sprintf("%s.%d.>", run, group)
}

// ParseCellKey returns the column and row of a CellKey.
func ParseCellKey(key string) (column string, row int, err error) {
	parts := strings.Split(key, ".")
	if len(parts) != 4 {
		return "", 0, fmt.Errorf("cell key %q: want run.group.column.row", key)
	}
	name, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", 0, fmt.Errorf("cell key %q: column: %w", key, err)
	}
	if row, err = GroupIndex(parts[3]); err != nil {
		return "", 0, fmt.Errorf("cell key %q: row: %w", key, err)
	}
	return string(name), row, nil
}
