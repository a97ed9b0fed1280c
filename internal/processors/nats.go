package processors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Headers of a nats processor's request and reply.
const (
	HeaderProcessor = "Rowforge-Processor" // request: the processor's name
	HeaderStage     = "Rowforge-Stage"     // request: pre_batch or post_batch
	HeaderGroup     = "Rowforge-Group"     // request: the row group's index
	HeaderError     = "Rowforge-Error"     // reply: the service failed; the value says why
)

// ServiceError is the cause of a nats processor's failure when the service replies with a
// Rowforge-Error header.
type ServiceError struct {
	Subject string
	Msg     string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("the service on %s replied with an error: %s", e.Subject, e.Msg)
}

// natsProcessor sends each row group to a user's service as a NATS request.
type natsProcessor struct {
	base
	nc      *nats.Conn
	subject string
	timeout time.Duration
}

func newNATS(b base, p *config.Processor, nc *nats.Conn) (*natsProcessor, error) {
	switch {
	case nc == nil:
		return nil, fmt.Errorf("processor %q: a nats processor needs a NATS connection", p.Name)
	case p.Subject == "":
		return nil, fmt.Errorf("processor %q: nats needs a subject", p.Name)
	case p.Timeout <= 0:
		return nil, fmt.Errorf("processor %q: nats needs a positive timeout, got %v", p.Name, p.Timeout)
	}
	return &natsProcessor{base: b, nc: nc, subject: p.Subject, timeout: p.Timeout}, nil
}

// Process sends the group as JSON lines in a request on the subject, with the headers
// Rowforge-Processor, Rowforge-Stage and Rowforge-Group, and decodes the reply's body as the
// processed group. A reply with a Rowforge-Error header (of any letter case) fails with a
// *ServiceError. No responders, a timeout and ctx being done fail at once.
func (p *natsProcessor) Process(ctx context.Context, group int, in *frame.Frame) (Result, error) {
	out, err := p.request(ctx, group, in)
	if err != nil {
		return Result{}, p.fail(group, err)
	}
	return Result{Frame: out}, nil
}

func (p *natsProcessor) request(ctx context.Context, group int, in *frame.Frame) (*frame.Frame, error) {
	if in == nil {
		return nil, errors.New("nil frame")
	}
	body, err := EncodeJSONLines(in)
	if err != nil {
		return nil, fmt.Errorf("encode the row group: %w", err)
	}
	msg := nats.NewMsg(p.subject)
	msg.Data = body
	msg.Header.Set(HeaderProcessor, p.name)
	msg.Header.Set(HeaderStage, string(p.stage))
	msg.Header.Set(HeaderGroup, strconv.Itoa(group))

	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	reply, err := p.nc.RequestMsgWithContext(tctx, msg)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("no service listens on %s: %w", p.subject, err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case tctx.Err() != nil, errors.Is(err, nats.ErrTimeout):
			return nil, fmt.Errorf("request on %s %w after %s", p.subject, ErrTimeout, seconds(p.timeout))
		}
		return nil, fmt.Errorf("request on %s: %w", p.subject, err)
	}
	if msg, failed := headerValue(reply.Header, HeaderError); failed {
		if msg == "" {
			msg = "(no message)"
		}
		return nil, &ServiceError{Subject: p.subject, Msg: msg}
	}
	out, err := DecodeJSONLines(reply.Data, in)
	if err != nil {
		return nil, fmt.Errorf("reply on %s: %w", p.subject, err)
	}
	return out, nil
}

// headerValue looks a header up whatever the letter case of its name, as services in other
// languages may write it.
func headerValue(h nats.Header, key string) (string, bool) {
	for k, vs := range h {
		if strings.EqualFold(k, key) {
			return strings.Join(vs, "; "), true
		}
	}
	return "", false
}
