package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rowforge/rowforge/internal/broker"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/local"
	"github.com/rowforge/rowforge/internal/sinkd"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/wire"
)

// session is the deployment a run is driven on: the servers of p.Client, or an embedded one
// (local mode) whose layout and URL are its own.
type session struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	denials *broker.Denials // the connection's (nil in local mode, whose user may do anything)
	layout  wire.Layout
	url     string
	close   func()
}

// open connects to the deployment of p, starting local mode when p names no server.
func open(ctx context.Context, p Params, log *slog.Logger) (*session, error) {
	layout := p.Client.Layout()
	if p.Client.URL != "" {
		nc, js, denials, err := dial(p.Client.URL, p.Client.Options(RoleController, "rowforge-controller", false))
		if err != nil {
			return nil, err
		}
		return &session{nc: nc, js: js, denials: denials, layout: layout, url: p.Client.URL, close: nc.Close}, nil
	}
	cl, err := local.Start(ctx, local.Options{Workers: p.Workers, Out: p.Out, Logger: log, LLM: p.LLM, Layout: layout, Secrets: p.secrets})
	if err != nil {
		return nil, fmt.Errorf("local mode: %w", err)
	}
	nc, js, err := cl.Connect("rowforge-controller")
	if err != nil {
		cl.Stop()
		return nil, err
	}
	return &session{nc: nc, js: js, layout: cl.Layout(), url: cl.URL(), close: cl.Stop}, nil
}

// drive connects to the deployment (or starts local mode), opens the run's sink client and
// calls start with a controller.
func drive(ctx context.Context, p Params, runID string, start func(*lifecycle.Controller, lifecycle.Sink) (*lifecycle.Result, error)) (*Summary, error) {
	log := p.logger()
	s, err := open(ctx, p, log)
	if err != nil {
		return nil, err
	}
	defer s.close()
	// A user without the administration rights is refused at once: fail then, not after
	// Ensure's retries time out.
	ectx, stop := s.denials.Watch(ctx)
	res, err := broker.Ensure(ectx, s.js, s.layout)
	stop()
	if err != nil {
		return nil, fmt.Errorf("prepare JetStream on %s: %w%s", Redact(s.url), err,
			p.Client.deniedHint(RoleController, err, "run the controller with its own user's or an administrator's credentials"))
	}
	defer broker.EnsureOnReconnect(ctx, s.nc, s.js, s.layout, log)()
	sink, err := sinkd.NewClient(ctx, s.nc, s.js, s.layout, res, runID, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		sink.Close(cctx)
	}()
	if p.OnStart != nil {
		p.OnStart(runID, Redact(s.url))
	}
	ctrl := lifecycle.New(s.nc, s.js, s.layout, res, log)
	col, stopProgress, err := showProgress(ctx, p, s.nc, s.layout, runID, log)
	if err != nil {
		return nil, err
	}
	defer stopProgress() // idempotent
	ctrl.OnProgress(p.forwardProgress(col))
	result, err := start(ctrl, sink)
	stopProgress() // the last counts, before the caller prints its summary
	sum := &Summary{Result: result, Dir: sink.Dir()}
	if err != nil {
		return sum, err
	}
	if result.Mode == wire.ModePreview {
		recs, _, err := sinks.ReadPreview(ctx, res.Preview, runID)
		if err != nil {
			return sum, fmt.Errorf("read the preview back: %w", err)
		}
		sum.Records = recs
	}
	return sum, nil
}
