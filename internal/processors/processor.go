package processors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Stage is when a processor runs.
type Stage string

const (
	// PreBatch runs once a group's sampler (seed) columns exist, before it is published.
	PreBatch Stage = config.StagePreBatch
	// PostBatch runs on the completed group, before the sink.
	PostBatch Stage = config.StagePostBatch
)

// Side dataset folders, under the dataset's folder.
const (
	// DroppedColumnsDir holds the columns drop_columns removed (preserve_dropped_columns).
	DroppedColumnsDir = "dropped-columns-parquet-files"
	// ProcessorFilesDir is the parent of each schema_transform's own folder; see FilesDir.
	ProcessorFilesDir = "processors-files"
)

// FilesDir is the side dataset folder of the named processor: "processors-files/<name>".
func FilesDir(name string) string { return ProcessorFilesDir + "/" + name }

// Processor transforms one row group. Implementations must not keep in or out.
//
// Process does not modify in; the frames it returns may share columns with in, so the caller
// must not modify in either while it uses them. A failure is an *Error. Process is safe for
// concurrent use on different groups, and honours ctx: a cancelled call returns an *Error
// wrapping ctx's error once everything it started has stopped.
type Processor interface {
	Name() string
	Stage() Stage
	AllowResize() bool
	Process(ctx context.Context, group int, in *frame.Frame) (Result, error)
}

// Result is what a processor made of a row group.
type Result struct {
	Frame *frame.Frame // the group after the processor (the main dataset)
	Side  []SideOutput // extra datasets this processor writes for the group
}

// SideOutput is a dataset a processor writes beside the main one, one file per group.
type SideOutput struct {
	Dir   string // folder under the dataset, e.g. DroppedColumnsDir or FilesDir(name)
	Frame *frame.Frame
}

// Error is a processor's failure on one row group. Err is the cause: a program's exit, a
// timeout (errors.Is ErrTimeout), an error reply, undecodable output, or ctx's error.
type Error struct {
	Processor string
	Stage     Stage
	Group     int
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("processor %q (%s, row group %d): %v", e.Processor, e.Stage, e.Group, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTimeout is the cause of an exec or nats processor's failure to finish within its timeout.
var ErrTimeout = errors.New("timed out")

// New builds the processor p of cfg. nc is the connection nats processors send their
// requests on; it may be nil when p is not a nats processor. cfg may be nil.
func New(p *config.Processor, cfg *config.Config, nc *nats.Conn) (Processor, error) {
	_ = cfg // every kind is built from p alone; cfg is there for kinds that need the columns
	if p == nil {
		return nil, errors.New("processors: nil processor")
	}
	b := base{name: p.Name, stage: Stage(p.Stage), allowResize: p.AllowResize}
	if b.stage != PreBatch && b.stage != PostBatch {
		return nil, fmt.Errorf("processor %q: unknown stage %q", p.Name, p.Stage)
	}
	switch p.Type {
	case config.ProcessorDropColumns:
		return newDropColumns(b, p)
	case config.ProcessorSchemaTransform:
		return newSchemaTransform(b, p)
	case config.ProcessorExec:
		return newExec(b, p)
	case config.ProcessorNATS:
		return newNATS(b, p, nc)
	}
	return nil, fmt.Errorf("processor %q: unknown processor_type %q", p.Name, p.Type)
}

// FromConfig builds every processor of cfg, in config order (cfg.Processors).
func FromConfig(cfg *config.Config, nc *nats.Conn) ([]Processor, error) {
	out := make([]Processor, 0, len(cfg.Processors))
	for _, p := range cfg.Processors {
		proc, err := New(p, cfg, nc)
		if err != nil {
			return nil, err
		}
		out = append(out, proc)
	}
	return out, nil
}

// Run calls p.Process and holds it to its contract: a panic becomes an *Error (with the
// stack), as does any other error that is not one already, and a result without a frame (or
// with a side output without one) is an error.
func Run(ctx context.Context, p Processor, group int, in *frame.Frame) (res Result, err error) {
	fail := func(err error) error {
		return &Error{Processor: p.Name(), Stage: p.Stage(), Group: group, Err: err}
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, fail(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	res, err = p.Process(ctx, group, in)
	if err != nil {
		if _, ok := errors.AsType[*Error](err); !ok {
			err = fail(err)
		}
		return Result{}, err
	}
	if res.Frame == nil {
		return Result{}, fail(errors.New("returned no frame"))
	}
	for _, s := range res.Side {
		if s.Frame == nil || s.Dir == "" {
			return Result{}, fail(fmt.Errorf("returned a side output without a frame or folder (%q)", s.Dir))
		}
	}
	return res, nil
}

var (
	_ Processor = (*dropColumns)(nil)
	_ Processor = (*schemaTransform)(nil)
	_ Processor = (*execProcessor)(nil)
	_ Processor = (*natsProcessor)(nil)
)

// base holds what every processor has.
type base struct {
	name        string
	stage       Stage
	allowResize bool
}

func (b base) Name() string      { return b.name }
func (b base) Stage() Stage      { return b.stage }
func (b base) AllowResize() bool { return b.allowResize }

func (b base) fail(group int, err error) error {
	return &Error{Processor: b.name, Stage: b.stage, Group: group, Err: err}
}
