package llmstub_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/llmstub"
)

func TestGenerateInstanceValidates(t *testing.T) {
	for name, schema := range map[string]string{
		"nested":           nestedSchema,
		"empty":            `{}`,
		"string":           `{"type": "string", "minLength": 3, "maxLength": 4}`,
		"formats":          `{"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"}, "id": {"type": "string", "format": "uuid"}, "site": {"type": "string", "format": "uri"}, "ip": {"type": "string", "format": "ipv4"}}}`,
		"negative":         `{"type": "integer", "maximum": -5}`,
		"exclusive":        `{"type": "integer", "exclusiveMinimum": 4, "maximum": 5}`,
		"multiple":         `{"type": "integer", "minimum": 1, "multipleOf": 5}`,
		"number":           `{"type": "number", "minimum": 0.5, "maximum": 0.75}`,
		"nullable integer": `{"type": ["null", "integer"], "minimum": 2}`,
		"null only":        `{"type": "null"}`,
		"bounded array":    `{"type": "array", "items": {"type": "boolean"}, "minItems": 3, "maxItems": 3}`,
		"unique enums":     `{"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true}`,
		"prefix items":     `{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false}`,
		"oneOf":            `{"oneOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]}`,
		"allOf": `{"allOf": [
			{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
			{"$ref": "#/$defs/b"}
		], "$defs": {"b": {"properties": {"b": {"type": "integer", "minimum": 1}}, "required": ["b"]}}}`,
		"required without properties": `{"type": "object", "required": ["x"], "properties": {}}`,
		"recursive": `{"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "required": ["value", "next"],
			"properties": {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}}}}`,
		"tree": `{"type": "object", "required": ["children"], "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}}}`,
		"draft-04": `{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["n", "p"],
			"properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": true}, "p": {"$ref": "#/definitions/p"}},
			"definitions": {"p": {"type": "array", "items": [{"type": "string"}, {"type": "boolean"}], "additionalItems": false}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var doc map[string]any
			require.NoError(t, json.Unmarshal([]byte(schema), &doc))
			b, err := json.Marshal(llmstub.GenerateInstance(doc))
			require.NoError(t, err)
			assert.NoError(t, validateJSON(compileSchema(t, schema), string(b)), "instance: %s", b)
		})
	}
}

func TestDefaultReply(t *testing.T) {
	req := &llmstub.ChatRequest{Messages: []llmstub.Message{{Role: "user", Content: "first"}, {Role: "assistant", Content: "ok"}}}
	assert.Equal(t, "Reply to: first", llmstub.DefaultReply(req))
	req.ResponseFormat = &llmstub.ResponseFormat{Type: "json_schema", JSONSchema: &llmstub.JSONSchema{Name: "n", Schema: map[string]any{
		"type": "object", "properties": map[string]any{"answer": map[string]any{"type": "string"}}, "required": []any{"answer"},
	}}}
	assert.JSONEq(t, `{"answer": "answer"}`, llmstub.DefaultReply(req))
}
