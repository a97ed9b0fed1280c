package llmstub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// ChatRequest is the part of an OpenAI chat-completions request body that the stub reads.
type ChatRequest struct {
	Model       string
	Messages    []Message
	Temperature *float64
	TopP        *float64
	// MaxTokens is max_completion_tokens, or max_tokens when the former is absent.
	MaxTokens *int
	// ResponseFormat is nil when the request has no response_format.
	ResponseFormat *ResponseFormat
	// Tools are the request's function tools.
	Tools []Tool
	// Header is the request's HTTP header (not part of the body).
	Header http.Header `json:"-"`
	// Extra holds every other top-level key of the body (fields sent with extra_body end up
	// here), decoded with encoding/json (numbers are float64).
	Extra map[string]any
}

// Message is one chat message. Content given as an array of parts ([{"type":"text","text":...}])
// is flattened: the text parts joined with "\n", image_url parts listed in Images, others ignored. A null content is "".
type Message struct {
	Role    string
	Content string
	// ToolCalls are an assistant message's calls; ToolCallID the call a tool message answers.
	ToolCalls  []ToolCall
	ToolCallID string
	// Images are the URLs of the content's image_url parts, in order.
	Images []string
}

// Tool is one entry of a request's tools: {"type": "function", "function": {...}}.
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction is a tool's function: its name, description and parameters' JSON schema.
type ToolFunction struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
}

// ToolCall is a call of a function tool, in a reply or in an assistant message of a request.
type ToolCall struct {
	ID       string           `json:"id"`
	Type     string           `json:"type"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the called function and its arguments, as JSON text.
type ToolCallFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ResponseFormat is the request's response_format: Type is "text", "json_object" or
// "json_schema" (then JSONSchema is set).
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Schema      map[string]any `json:"schema,omitempty"`
	Strict      *bool          `json:"strict,omitempty"`
}

// UnmarshalJSON decodes a chat-completions request body. It fails when the body is not a JSON
// object or a known key has the wrong type; it does not require messages to be present.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return errors.New("request body is not a JSON object")
	}
	*r = ChatRequest{}
	field := func(key string, dst any) error {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		delete(raw, key)
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	var maxTokens, maxCompletionTokens *int
	for _, f := range []struct {
		key string
		dst any
	}{
		{"model", &r.Model},
		{"messages", &r.Messages},
		{"temperature", &r.Temperature},
		{"top_p", &r.TopP},
		{"max_tokens", &maxTokens},
		{"max_completion_tokens", &maxCompletionTokens},
		{"response_format", &r.ResponseFormat},
		{"tools", &r.Tools},
	} {
		if err := field(f.key, f.dst); err != nil {
			return err
		}
	}
	r.MaxTokens = maxTokens
	if maxCompletionTokens != nil {
		r.MaxTokens = maxCompletionTokens
	}
	if len(raw) > 0 {
		r.Extra = make(map[string]any, len(raw))
		for k, v := range raw {
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			r.Extra[k] = x
		}
	}
	return nil
}

// UnmarshalJSON accepts content as a string, null or an array of content parts.
func (m *Message) UnmarshalJSON(data []byte) error {
	var raw struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  []ToolCall      `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*m = Message{Role: raw.Role, ToolCalls: raw.ToolCalls, ToolCallID: raw.ToolCallID}
	c := bytes.TrimSpace(raw.Content)
	switch {
	case len(c) == 0 || bytes.Equal(c, []byte("null")):
	case c[0] == '"':
		return json.Unmarshal(c, &m.Content)
	case c[0] == '[':
		var parts []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL struct {
				URL string `json:"url"`
			} `json:"image_url"`
		}
		if err := json.Unmarshal(c, &parts); err != nil {
			return fmt.Errorf("content: %w", err)
		}
		var texts []string
		for _, p := range parts {
			if p.Type == "text" || (p.Type == "" && p.Text != "") {
				texts = append(texts, p.Text)
			}
			if p.Type == "image_url" {
				m.Images = append(m.Images, p.ImageURL.URL)
			}
		}
		m.Content = strings.Join(texts, "\n")
	default:
		return errors.New("content: want a string or an array of content parts")
	}
	return nil
}

// clone returns a deep copy of r.
func (r *ChatRequest) clone() *ChatRequest {
	c := *r
	c.Messages = append([]Message(nil), r.Messages...)
	c.Header = r.Header.Clone()
	for i := range c.Messages {
		c.Messages[i].ToolCalls = slices.Clone(c.Messages[i].ToolCalls)
		c.Messages[i].Images = slices.Clone(c.Messages[i].Images)
	}
	c.Tools = slices.Clone(r.Tools)
	for i := range c.Tools {
		if p := c.Tools[i].Function.Parameters; p != nil {
			c.Tools[i].Function.Parameters = deepCopy(p).(map[string]any)
		}
	}
	if r.Temperature != nil {
		c.Temperature = new(*r.Temperature)
	}
	if r.TopP != nil {
		c.TopP = new(*r.TopP)
	}
	if r.MaxTokens != nil {
		c.MaxTokens = new(*r.MaxTokens)
	}
	if r.ResponseFormat != nil {
		rf := *r.ResponseFormat
		if rf.JSONSchema != nil {
			js := *rf.JSONSchema
			if js.Strict != nil {
				js.Strict = new(*js.Strict)
			}
			if js.Schema != nil {
				js.Schema = deepCopy(js.Schema).(map[string]any)
			}
			rf.JSONSchema = &js
		}
		c.ResponseFormat = &rf
	}
	if r.Extra != nil {
		c.Extra = deepCopy(r.Extra).(map[string]any)
	}
	return &c
}

// deepCopy copies a value decoded by encoding/json into an any.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := maps.Clone(v)
		for k, x := range m {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = deepCopy(x)
		}
		return s
	default:
		return v
	}
}

// lastUserMessage is the content of the last message with role "user", or of the last message
// when there is none.
func (r *ChatRequest) lastUserMessage() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	if len(r.Messages) > 0 {
		return r.Messages[len(r.Messages)-1].Content
	}
	return ""
}
