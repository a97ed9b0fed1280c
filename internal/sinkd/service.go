// Package sinkd is the sink stage over JetStream. Service is the sink daemon: it consumes the
// sink stream and writes each finalized group to the run's sink — Parquet files for a build, the
// preview bucket for a preview — and answers with a commit. Client is the other end: the
// controller's Sink, which publishes finalized groups and waits for their commits. A group
// travels as one message body, a wire group container holding its main record and its side
// datasets.
package sinkd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/jsx"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/lifestate"
	"github.com/rowforge/rowforge/internal/metrics"
	"github.com/rowforge/rowforge/internal/profile"
	"github.com/rowforge/rowforge/internal/runstore"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Options tune the sink daemon.
type Options struct {
	// Out is the folder datasets are written under, as <Out>/<dataset>/.
	Out string
	// Concurrency is how many groups are written at once (default 2; Parquet encoding is CPU-bound).
	Concurrency int
	Logger      *slog.Logger
	// Metrics, when set, records groups written, rows, write times and errors.
	Metrics *metrics.Sinkd
}

// Service is the sink daemon.
type Service struct {
	js     jetstream.JetStream
	layout wire.Layout
	res    *broker.Resources
	runs   *runstore.Store
	pub    *broker.Publisher
	opts   Options
	log    *slog.Logger
	life   *lifestate.State // running while Run consumes: for Ready

	mu    sync.Mutex
	sinks map[string]*runSink
}

type runSink struct {
	once sync.Once
	sink lifecycle.Sink
	dir  string
	err  error
	// mu orders a discard after the writes in progress: writes hold it shared, the discard
	// exclusively, and no write starts once the run is discarded.
	mu        sync.RWMutex
	discarded bool
}

// NewService returns a sink daemon. It does not take ownership of nc.
func NewService(nc *nats.Conn, js jetstream.JetStream, layout wire.Layout, res *broker.Resources, opts Options) *Service {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Out == "" {
		opts.Out = "artifacts"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{js: js, layout: layout, res: res, runs: runstore.New(res.Runs), opts: opts, life: lifestate.New("sinkd"), log: log.With("component", "sinkd"),
		pub: broker.NewPublisher(js, res.Payloads, nc.MaxPayload()), sinks: map[string]*runSink{}}
}

// Ready is nil while Run consumes sink messages, for a health check: an error before the
// consumer is open and once the service has stopped. It does not follow the NATS connection,
// which reconnects on its own.
func (s *Service) Ready() error { return s.life.Ready() }

// Run consumes sink messages until ctx ends and returns once the writes in hand are done.
func (s *Service) Run(ctx context.Context) error {
	cons, err := s.js.Consumer(ctx, s.layout.SinkStream(), wire.SinkdConsumer)
	if err != nil {
		return fmt.Errorf("sinkd: open consumer %s: %w", wire.SinkdConsumer, err)
	}
	s.life.Start() // ready by the time the log says so
	s.log.Info("sinkd started", "out", s.opts.Out)
	// Writes in hand finish even when ctx ends: a half-handled message would only be redone.
	jsx.PullEach(ctx, cons, s.opts.Concurrency, s.log, func(_ context.Context, m jetstream.Msg) {
		s.handle(context.WithoutCancel(ctx), m)
	})
	s.life.Stop()
	s.log.Info("sinkd stopped")
	return nil
}

func (s *Service) handle(ctx context.Context, m jetstream.Msg) {
	subj, err := s.layout.ParseSubject("sink", m.Subject())
	if err != nil {
		s.opts.Metrics.Error(metrics.ErrMalformedMessage)
		jsx.Term(s.log, m, err.Error())
		return
	}
	rec, err := s.runRecord(ctx, subj.Run)
	if errors.Is(err, runstore.ErrNotFound) {
		jsx.Term(s.log, m, "unknown run "+subj.Run)
		return
	}
	if err != nil {
		s.log.Warn("cannot read the run record; retrying later", "run", subj.Run, "err", err)
		s.opts.Metrics.Error(metrics.ErrRunRecord)
		jsx.Retry(m)
		return
	}
	rs := s.sinkFor(rec)
	reply := wire.SinkCommit{Dir: rs.dir}
	var kind, id string
	switch subj.Kind {
	case wire.SinkGroup:
		var ok bool
		if id, ok = s.handleGroup(ctx, m, subj.ID, rec, rs, &reply); !ok {
			return
		}
		kind = wire.KindSink
	case wire.SinkFinalize:
		kind, id = wire.KindFinal, "0"
		if !s.handleFinalize(ctx, m, rs, &reply) {
			return
		}
	case wire.SinkAbort:
		s.discard(ctx, rs, subj.Run)
		_ = m.Ack()
		return
	default:
		s.opts.Metrics.Error(metrics.ErrMalformedMessage)
		jsx.Term(s.log, m, "unknown sink message kind "+subj.Kind)
		return
	}
	s.commit(ctx, m, subj, kind, id, reply)
}

// handleGroup writes the group of message m, whose subject id is subjID, and returns the
// group's id for its commit. A sink's failure to write is reported in reply, for the
// controller to act on; a message that can never be written (malformed, for a run no longer
// active, or discarded) is terminated instead, since a redelivery would fare no better, and
// handleGroup returns false: there is no commit to publish.
func (s *Service) handleGroup(ctx context.Context, m jetstream.Msg, subjID string, rec *wire.RunRecord, rs *runSink, reply *wire.SinkCommit) (string, bool) {
	g, err := wire.GroupIndex(subjID)
	if err != nil {
		s.opts.Metrics.Error(metrics.ErrMalformedMessage)
		s.opts.Metrics.Group(metrics.ResultRefused)
		jsx.Term(s.log, m, err.Error())
		return "", false
	}
	reply.Group = g
	if !rec.Active() {
		s.opts.Metrics.Group(metrics.ResultRefused)
		jsx.Term(s.log, m, fmt.Sprintf("run %s is %s", rec.ID, rec.State))
		return "", false
	}
	if err := s.writeGroup(ctx, rs, g, m, reply); err != nil {
		if errors.Is(err, errMalformed) {
			s.opts.Metrics.Error(metrics.ErrMalformedMessage)
		}
		if errors.Is(err, errMalformed) || errors.Is(err, errDiscarded) {
			s.opts.Metrics.Group(metrics.ResultRefused)
			jsx.Term(s.log, m, err.Error())
			return "", false
		}
		reply.Error = err.Error()
	}
	return strconv.Itoa(g), true
}

// handleFinalize finalizes the run's sink, reporting a failure in reply like a group's, and
// profiles the dataset only once it is finalized: a profile describes committed data. It
// returns false when it terminated a malformed message, which has no commit to publish.
func (s *Service) handleFinalize(ctx context.Context, m jetstream.Msg, rs *runSink, reply *wire.SinkCommit) bool {
	fin, err := wire.DecodeFinalize(m.Data())
	if err != nil {
		s.opts.Metrics.Error(metrics.ErrMalformedMessage)
		jsx.Term(s.log, m, err.Error())
		return false
	}
	if rs.err != nil {
		reply.Error = rs.err.Error()
	} else if err := rs.sink.Finalize(ctx, fin.Metadata); err != nil {
		reply.Error = err.Error()
	} else {
		s.profile(ctx, rs.sink)
	}
	return true
}

// commit publishes the answer to a group or finalize message and only then acknowledges it:
// a commit that could not be published is published again when the message is redelivered.
func (s *Service) commit(ctx context.Context, m jetstream.Msg, subj wire.Subject, kind, id string, reply wire.SinkCommit) {
	if reply.Error != "" {
		s.log.Error("sink write failed", "run", subj.Run, "kind", subj.Kind, "id", subj.ID, "err", reply.Error)
	}
	body, _ := json.Marshal(reply)
	if err := s.pub.Publish(ctx, s.layout.OutcomeSubject(subj.Run, kind, id),
		wire.ReplyID(m, kind, fmt.Sprintf("%s/%s/%s", subj.Run, id, kind)), nil, body); err != nil {
		s.log.Warn("could not publish the commit; the message will be redelivered", "err", err)
		s.opts.Metrics.Error(metrics.ErrPublish)
		jsx.Retry(m)
		return
	}
	_ = m.Ack()
	s.count(kind, reply)
	if kind == wire.KindFinal {
		s.forget(subj.Run)
	}
}

// count records a group or finalize message once its commit is stored: a message redelivered
// because the commit could not be is counted when it is.
func (s *Service) count(kind string, reply wire.SinkCommit) {
	failure := reply.Error
	switch {
	case kind == wire.KindSink && failure == "":
		s.opts.Metrics.Written(reply.Rows)
	case kind == wire.KindSink:
		s.opts.Metrics.Group(metrics.ResultFailed)
	case failure == "":
		s.opts.Metrics.Finalize()
	default:
		s.opts.Metrics.Error(metrics.ErrFinalize)
	}
}

// profile writes the profile of a finished build beside it (analysis.json, report.html),
// before the finalize is acknowledged, so that a run's files are all there when it ends. The
// data is committed by then: a profile that fails is logged, not a failure of the run
// (`controller report DIR` writes it again).
func (s *Service) profile(ctx context.Context, sink lifecycle.Sink) {
	p, ok := sink.(interface{ Dir() string })
	if !ok { // the preview bucket: nothing to profile
		return
	}
	start := time.Now()
	defer func() { // a bug in a report must not take the sink down with committed data in hand
		if r := recover(); r != nil {
			s.log.Error("profiling the dataset panicked; run `controller report` on it", "dir", p.Dir(), "panic", r)
		}
	}()
	a, err := profile.Write(ctx, p.Dir(), profile.Options{})
	if err != nil {
		s.log.Warn("could not profile the dataset; run `controller report` on it", "dir", p.Dir(), "err", err)
		return
	}
	s.log.Info("dataset profiled", "dir", p.Dir(), "records", a.NumRecords, "took", time.Since(start).Round(time.Millisecond))
}

var (
	errMalformed = errors.New("malformed sink message")
	errDiscarded = errors.New("the run was discarded")
)

// purger is implemented by sinks whose committed groups an abort removes (the preview bucket):
// a preview that did not complete is of no use to anyone.
type purger interface{ Purge(context.Context) error }

// discard removes what the run left half-written, once the writes in progress have finished.
// The run's sink stays known as discarded, so a late group is refused rather than written.
func (s *Service) discard(ctx context.Context, rs *runSink, run string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.discarded || rs.err != nil {
		return
	}
	rs.discarded = true
	if err := rs.sink.Discard(ctx); err != nil {
		s.log.Warn("discard failed", "run", run, "err", err)
		s.opts.Metrics.Error(metrics.ErrDiscard)
	}
	if p, ok := rs.sink.(purger); ok {
		if err := p.Purge(ctx); err != nil {
			s.log.Warn("purge of the preview failed", "run", run, "err", err)
			s.opts.Metrics.Error(metrics.ErrDiscard)
		}
	}
}

func (s *Service) writeGroup(ctx context.Context, rs *runSink, g int, m jetstream.Msg, reply *wire.SinkCommit) error {
	if rs.err != nil {
		return rs.err
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if rs.discarded {
		return errDiscarded
	}
	body, err := broker.Body(ctx, s.res.Payloads, m)
	if err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	group, err := decodeGroup(g, body)
	if err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	defer releaseGroup(group)
	start := time.Now()
	commit, err := rs.sink.WriteGroup(ctx, group)
	s.opts.Metrics.WriteTook(time.Since(start))
	if err != nil {
		return err
	}
	if name, ok := broker.Offloaded(m); ok { // the body is durable in the sink now
		_ = s.res.Payloads.Delete(ctx, name)
	}
	reply.Commit = commit
	return nil
}

// decodeGroup decodes the body of group g's message: a group container (wire.EncodeGroup), the
// main record and its sides. A body without the container's magic is read as a bare Arrow IPC
// stream, a group without sides, which is what a controller that predates side datasets
// publishes, so that its messages still in the sink stream are written rather than terminated.
func decodeGroup(g int, body []byte) (lifecycle.Group, error) {
	main, sides, err := wire.DecodeGroup(body)
	if err != nil {
		return lifecycle.Group{}, err
	}
	group := lifecycle.Group{Index: g, Main: main}
	for _, s := range sides {
		group.Sides = append(group.Sides, lifecycle.Side{Dir: s.Name, Rec: s.Rec})
	}
	return group, nil
}

func releaseGroup(g lifecycle.Group) {
	g.Main.Release()
	for _, s := range g.Sides {
		s.Rec.Release()
	}
}

func (s *Service) runRecord(ctx context.Context, run string) (*wire.RunRecord, error) {
	return s.runs.Get(ctx, run)
}

// sinkFor opens the run's sink once per sinkd process. A build writes under <out>/<dataset>;
// when that folder holds another run's dataset, under <out>/<dataset>_<run> instead, so nothing
// already written is ever overwritten. The choice is stable across restarts of sinkd.
func (s *Service) sinkFor(rec *wire.RunRecord) *runSink {
	s.mu.Lock()
	rs, ok := s.sinks[rec.ID]
	if !ok {
		rs = &runSink{}
		s.sinks[rec.ID] = rs
	}
	s.mu.Unlock()
	rs.once.Do(func() {
		if rec.Mode == wire.ModePreview {
			rs.sink, rs.dir = sinks.NewPreview(s.res.Preview, rec.ID), s.layout.PreviewBucket()
			return
		}
		rs.dir, rs.err = datasetDir(s.opts.Out, rec.DatasetName, rec.ID)
		if rs.err == nil {
			rs.sink, rs.err = sinks.NewParquet(rs.dir, sinks.ParquetOptions{Logger: s.log})
		}
	})
	return rs
}

func (s *Service) forget(run string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sinks, run)
}

const runMarker = ".rowforge-run"

// datasetDir picks the run's folder and claims it with a marker holding the run id.
func datasetDir(out, name, run string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("dataset name %q is not a folder name", name)
	}
	for _, dir := range []string{filepath.Join(out, name), filepath.Join(out, name+"_"+run)} {
		owner, err := os.ReadFile(filepath.Join(dir, runMarker))
		switch {
		case err == nil && string(owner) == run:
			return dir, nil
		case err == nil:
			continue // another run's dataset
		case !errors.Is(err, os.ErrNotExist):
			return "", err
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			continue // something else lives here
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, runMarker), []byte(run), 0o644); err != nil {
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("dataset folders %s and %s_%s are both taken", filepath.Join(out, name), filepath.Join(out, name), run)
}
