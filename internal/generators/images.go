package generators

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
)

// dataURIRe matches a base64 data URI, Data Designer's pattern.
var dataURIRe = regexp.MustCompile(`^data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$`)

// imageURLs returns the images of a row's multi_modal_context, as URLs the model can read:
// http(s) URLs as they are, base64 data as data URIs. A column's value may be one image, a
// list of them, or a JSON list; a null holds none.
func imageURLs(ctxs []config.ImageContext, row map[string]any) ([]string, error) {
	var out []string
	for _, ic := range ctxs {
		for _, v := range mediaValues(row[ic.Column]) {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("multi_modal_context: column %q: want an image URL or base64 text, got %T", ic.Column, v)
			}
			u, err := imageURL(ic, strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("multi_modal_context: column %q: %w", ic.Column, err)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// mediaValues is Data Designer's normalize_media_context_values.
func mediaValues(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case string:
		var list []any
		if strings.HasPrefix(strings.TrimSpace(v), "[") && json.Unmarshal([]byte(v), &list) == nil {
			return list
		}
	}
	return []any{v}
}

func imageURL(ic config.ImageContext, s string) (string, error) {
	if s == "" {
		return "", errors.New("an empty value is no image (use null for none)")
	}
	isURL := strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
	m := dataURIRe.FindStringSubmatch(s)
	switch {
	case ic.DataType == config.ImageURL:
		if !isURL && m == nil {
			return "", fmt.Errorf("data_type url: %q is not an http(s) URL or a data URI", clip(s))
		}
		return s, nil
	case m != nil:
		media := m[1]
		if !strings.HasPrefix(media, "image/") {
			return "", fmt.Errorf("a data URI of %s, not an image", media)
		}
		if ic.Format != "" && mimeOf(ic.Format) != mimeOf(strings.TrimPrefix(media, "image/")) {
			return "", fmt.Errorf("image_format %s does not match the data URI's %s", ic.Format, media)
		}
		return s, nil
	case isURL && ic.DataType == "":
		return s, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if err == nil {
			break
		}
		if raw, err = enc.DecodeString(s); err == nil { // the data URI wants standard padded base64
			s = base64.StdEncoding.EncodeToString(raw)
		}
	}
	if err != nil {
		return "", fmt.Errorf("%q is not an http(s) URL, a data URI or base64 image data (local files are not read)", clip(s))
	}
	format := ic.Format
	if format == "" {
		if format = detectImage(raw); format == "" {
			return "", fmt.Errorf("base64 data of no image format rowforge detects (png, jpeg, gif, webp; first bytes %x): set image_format", raw[:min(len(raw), 8)])
		}
	}
	return "data:" + mimeOf(format) + ";base64," + s, nil
}

// mimeOf is the media type of an image format (jpg is image/jpeg).
func mimeOf(format string) string {
	if format == "jpg" {
		format = "jpeg"
	}
	return "image/" + format
}

// detectImage names the format of image bytes by their magic numbers, or "".
func detectImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}
