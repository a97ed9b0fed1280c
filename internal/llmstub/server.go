package llmstub

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Start serves the stub on a loopback httptest server that is closed (after [Stub.Close]) when
// the test ends, and returns the base URL to give an OpenAI client, ending in "/v1".
func (s *Stub) Start(t testing.TB) string {
	t.Helper()
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return hs.URL + "/v1"
}

// Server is a stub served on a TCP listener by [Stub.Listen], for use outside tests.
type Server struct {
	// URL is the base URL to give an OpenAI client, "http://host:port/v1".
	URL string
	// Addr is the listener's address.
	Addr net.Addr

	stub      *Stub
	hs        *http.Server
	served    chan error
	closeOnce sync.Once
	closeErr  error
}

// Listen serves the stub on addr ("host:port"; "" means "127.0.0.1:0", a free loopback port)
// until [Server.Close].
func (s *Stub) Listen(addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		URL:    "http://" + ln.Addr().String() + "/v1",
		Addr:   ln.Addr(),
		stub:   s,
		hs:     &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1),
	}
	go func() { srv.served <- srv.hs.Serve(ln) }()
	return srv, nil
}

// Close closes the stub (releasing waiting requests), stops the server and waits for it, giving
// in-progress responses a few seconds to finish. It is idempotent.
func (srv *Server) Close() error {
	srv.closeOnce.Do(func() {
		srv.stub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.hs.Shutdown(ctx); err != nil {
			srv.closeErr = errors.Join(err, srv.hs.Close())
		}
		if err := <-srv.served; !errors.Is(err, http.ErrServerClosed) {
			srv.closeErr = errors.Join(srv.closeErr, err)
		}
	})
	return srv.closeErr
}
