package llmstub

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"time"
)

// EmbeddingRequest is a request to POST {prefix}/embeddings.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     int             `json:"dimensions,omitempty"`
}

// DefaultEmbeddingDimensions is the length of the stub's vectors when a request asks none.
const DefaultEmbeddingDimensions = 8

// Embedding is the stub's vector of text: dims floats in [-1, 1) from a hash of the text,
// the same for the same text, so that a test can check what a column holds.
func Embedding(text string, dims int) []float32 {
	out := make([]float32, dims)
	for i := range out {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d:%s", i, text)
		out[i] = float32(h.Sum64()%2000)/1000 - 1
	}
	return out
}

// serveEmbeddings answers an embeddings request like the OpenAI API: one vector per input, as
// floats or, with encoding_format base64, as base64 of little-endian float32s. It counts as a
// request: in flight, latency, the gate and faults apply as to chat completions.
func (s *Stub) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.reject(w, http.StatusBadRequest, "llmstub: reading request body: "+err.Error())
		return
	}
	var req EmbeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.reject(w, http.StatusBadRequest, "llmstub: request body is not an embeddings request: "+err.Error())
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			s.reject(w, http.StatusBadRequest, "llmstub: input must be a string or a list of strings")
			return
		}
		inputs = []string{one}
	}
	// The chat request it is counted as: its input as the user's message.
	chat := &ChatRequest{Model: req.Model, Extra: map[string]any{"embeddings": true}}
	for _, in := range inputs {
		chat.Messages = append(chat.Messages, Message{Role: "user", Content: in})
	}
	n := s.begin(chat)
	var fault Fault
	if s.opts.Faults != nil {
		fault = s.opts.Faults(n, chat)
	}
	if err := s.wait(r.Context(), fault.Delay); err != nil {
		s.end(cancelled, 0, 0)
		return
	}
	if fault.Status != 0 && fault.Status != http.StatusOK {
		s.end(failed, 0, 0)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_, _ = w.Write(errorBody(fault.Status, fmt.Sprintf("llmstub: injected fault (HTTP %d) for request %d", fault.Status, n)))
		return
	}
	if fault.Malformed || fault.HTML || fault.Empty || fault.NoChoices {
		s.end(failed, 0, 0)
		ct, body := badBody(fault, n, req.Model)
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
		return
	}
	dims := req.Dimensions
	if dims <= 0 {
		dims = DefaultEmbeddingDimensions
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	var tokens int64
	data := make([]item, len(inputs))
	for i, in := range inputs {
		vec := Embedding(in, dims)
		tokens += estimateTokens(in)
		data[i] = item{Object: "embedding", Index: i, Embedding: vec}
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(vec))
			for j, x := range vec {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(b)
		}
	}
	out, _ := json.Marshal(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage":   map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens},
		"created": time.Now().Unix(),
	})
	s.end(completed, tokens, 0)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
