// Package mcpstub is a real MCP server for tests, built on the MCP Go SDK: a few
// deterministic tools, served over SSE or streamable HTTP by an httptest server, or over stdio
// by the mcpstub program (cmd/mcpstub). It counts the calls it answers, so tests can see what
// the client did.
package mcpstub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools are the stub's tools:
//
//   - lookup {key}: "value of <key>"
//   - add {a, b}: the sum, as text
//   - fail {}: a tool error (isError) "the tool failed"
//   - getenv {name}: the server's environment variable (tests of what a stdio server inherits)
//   - hang {}: answers only when the call is cancelled or the server closed
const (
	Lookup = "lookup"
	Add    = "add"
	Fail   = "fail"
	Hang   = "hang"
	Getenv = "getenv"
)

// LookupResult is lookup's answer for key.
func LookupResult(key string) string { return "value of " + key }

// Server is an MCP server with the stub's tools.
type Server struct {
	*mcp.Server
	prefix string

	stop     chan struct{} // closed by Close: hang returns
	stopOnce sync.Once

	mu    sync.Mutex
	calls []string // tool names, in order of arrival
}

// Close releases the calls of hang still waiting (a stateless HTTP server may not see the
// client's cancellation), so that the HTTP server can shut down.
func (s *Server) Close() { s.stopOnce.Do(func() { close(s.stop) }) }

type lookupIn struct {
	Key string `json:"key" jsonschema:"the key to look up"`
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type noArgs struct{}

// New returns a server whose tool names start with prefix (tests of two providers give them
// different names, or the same to get duplicates).
func New(prefix string) *Server {
	s := &Server{Server: mcp.NewServer(&mcp.Implementation{Name: "mcpstub", Version: "1"}, nil), prefix: prefix, stop: make(chan struct{})}
	text := func(t string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: t}}}
	}
	mcp.AddTool(s.Server, &mcp.Tool{Name: prefix + Lookup, Description: "Looks a key up."},
		func(_ context.Context, _ *mcp.CallToolRequest, in lookupIn) (*mcp.CallToolResult, any, error) {
			s.record(Lookup)
			return text(LookupResult(in.Key)), nil, nil
		})
	mcp.AddTool(s.Server, &mcp.Tool{Name: prefix + Add, Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
			s.record(Add)
			return text(fmt.Sprint(in.A + in.B)), nil, nil
		})
	mcp.AddTool(s.Server, &mcp.Tool{Name: prefix + Fail, Description: "Always fails."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			s.record(Fail)
			return nil, nil, errors.New("the tool failed")
		})
	mcp.AddTool(s.Server, &mcp.Tool{Name: prefix + Getenv, Description: "Reads an environment variable."},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Name string `json:"name"`
		}) (*mcp.CallToolResult, any, error) {
			s.record(Getenv)
			return text(os.Getenv(in.Name)), nil, nil
		})
	mcp.AddTool(s.Server, &mcp.Tool{Name: prefix + Hang, Description: "Never answers."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			s.record(Hang)
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-s.stop:
				return nil, nil, errors.New("the server is closing")
			}
		})
	return s
}

func (s *Server) record(tool string) {
	s.mu.Lock()
	s.calls = append(s.calls, tool)
	s.mu.Unlock()
}

// Calls returns the tools called so far (without the prefix), in order of arrival.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Transport is how Serve serves the server.
type Transport string

// Transports over HTTP.
const (
	SSE            Transport = "sse"
	StreamableHTTP Transport = "streamable_http"
)

// Serve serves s over HTTP until the test ends and returns the endpoint. With apiKey, requests
// without "Authorization: Bearer <apiKey>" get 401.
func (s *Server) Serve(t testing.TB, tr Transport, apiKey string) string {
	t.Helper()
	get := func(*http.Request) *mcp.Server { return s.Server }
	var h http.Handler
	switch tr {
	case SSE:
		h = mcp.NewSSEHandler(get, nil)
	case StreamableHTTP:
		h = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	default:
		t.Fatalf("mcpstub: unknown transport %q", tr)
	}
	if apiKey != "" {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+apiKey {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return strings.TrimSuffix(srv.URL, "/") + "/mcp"
}
