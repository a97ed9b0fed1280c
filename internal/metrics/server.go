package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownGrace bounds how long a stopping server waits for a scrape in progress; a scrape
// is quick, and a process that is stopping must not wait on a slow scraper.
const shutdownGrace = 5 * time.Second

// Server serves /metrics, /healthz and /livez until its context ends.
type Server struct {
	ln   net.Listener
	done chan struct{}
	err  error // set before done is closed
}

// Serve listens on addr (":0" picks a free port; see Addr) and serves reg on /metrics, ready
// on /healthz — 200 "ok" while ready returns nil (or ready is nil), 503 with its error
// otherwise — and /livez, 200 "ok" whenever the process answers at all: a liveness probe must
// not restart a service that is only not ready yet (waiting for `controller setup`, say). It returns once the listener is bound, so that a bad address fails the process at
// start rather than in the background. The server stops when ctx ends; Wait waits for that.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func() error) (*Server, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		ok(w)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { ok(w) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s := &Server{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served: // the listener broke: nothing more can be served
			_ = srv.Close()
			s.err = err
			return
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// Addr is the host:port the server listens on, with the port it was given for ":0".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Wait returns once the server has stopped and its goroutines have ended: nil after a stop
// by its context, the error that ended it otherwise.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}
