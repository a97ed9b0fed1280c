package generators_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/pkg/config"
)

var (
	pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pngB64   = base64.StdEncoding.EncodeToString(pngBytes)
	gifB64   = base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00"))
	oddB64   = base64.StdEncoding.EncodeToString([]byte("not an image"))
)

// imageGenerator compiles an llm-text column with the given multi_modal_context entries.
func imageGenerator(t *testing.T, stub *llmstub.Stub, contexts string) func(row map[string]any) (any, error) {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `
model_configs: [{alias: m, model: v, provider: stub}]
columns:
  - {name: pic, column_type: sampler, sampler_type: category, params: {values: [x]}}
  - {name: caption, column_type: llm-text, model_alias: m, prompt: "Describe the image", with_trace: all_messages,
     multi_modal_context: %s}
`, contexts))
	require.NoError(t, err)
	m := llm.NewModel(cfg.Model("m"), &config.Provider{Name: "stub", Endpoint: stub.Start(t)}, 4, llm.Options{Patience: time.Minute})
	g, err := generators.LLM(cfg.Column("caption"), m, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"pic"}, g.Inputs, "the image column is an input: it is generated first")
	return func(row map[string]any) (any, error) { return g.Cell(t.Context(), row) }
}

func TestMultiModalContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		contexts string
		pic      any
		want     []string // image URLs sent, or
		err      string   // the row's error
	}{
		{"url", `[{modality: image, column_name: pic}]`, "https://img.example/a.png", []string{"https://img.example/a.png"}, ""},
		{"data URI", `[{modality: image, column_name: pic}]`, "data:image/png;base64," + pngB64, []string{"data:image/png;base64," + pngB64}, ""},
		{"base64 detected", `[{modality: image, column_name: pic}]`, pngB64, []string{"data:image/png;base64," + pngB64}, ""},
		{"base64 with format", `[{modality: image, column_name: pic, data_type: base64, image_format: jpg}]`, oddB64, []string{"data:image/jpeg;base64," + oddB64}, ""},
		{"JSON list", `[{modality: image, column_name: pic}]`, `["https://img.example/a.png", "` + gifB64 + `"]`, []string{"https://img.example/a.png", "data:image/gif;base64," + gifB64}, ""},
		{"list", `[{modality: image, column_name: pic, data_type: url}]`, []any{"https://a/1.jpg", "https://a/2.jpg"}, []string{"https://a/1.jpg", "https://a/2.jpg"}, ""},
		{"null", `[{modality: image, column_name: pic}]`, nil, nil, ""},
		{"unpadded base64", `[{modality: image, column_name: pic}]`, strings.TrimRight(pngB64, "="), []string{"data:image/png;base64," + pngB64}, ""},
		{"empty", `[{modality: image, column_name: pic, image_format: png}]`, " ", nil, `an empty value is no image`},
		{"url mode, not a URL", `[{modality: image, column_name: pic, data_type: url}]`, "pics/a.png", nil, `column "caption": multi_modal_context: column "pic": data_type url: "pics/a.png" is not an http(s) URL or a data URI`},
		{"undetectable", `[{modality: image, column_name: pic}]`, oddB64, nil, `column "pic": base64 data of no image format rowforge detects`},
		{"local path", `[{modality: image, column_name: pic}]`, "pics/a.png", nil, `local files are not read`},
		{"format mismatch", `[{modality: image, column_name: pic, image_format: gif}]`, "data:image/png;base64," + pngB64, nil, `image_format gif does not match the data URI's image/png`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return "a cat" }})
			v, err := imageGenerator(t, stub, tc.contexts)(map[string]any{"pic": tc.pic})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.Empty(t, stub.Requests(), "no request with a bad image")
				return
			}
			require.NoError(t, err)
			user := stub.Requests()[0].Messages[0]
			assert.Equal(t, tc.want, user.Images)
			assert.Equal(t, "Describe the image", user.Content)
			var trace []map[string]any
			require.NoError(t, json.Unmarshal([]byte(v.([]any)[1].(string)), &trace))
			blocks := trace[0]["content"].([]any)
			require.Len(t, blocks, len(tc.want)+1, "the images, then the prompt")
			if len(tc.want) > 0 {
				assert.Equal(t, map[string]any{"type": "image_url", "image_url": map[string]any{"url": tc.want[0]}}, blocks[0])
			}
			assert.Equal(t, map[string]any{"type": "text", "text": "Describe the image"}, blocks[len(blocks)-1])
		})
	}
}
