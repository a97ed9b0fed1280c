package llm

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestSnippet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", ""},
		{"blank", " \n\t ", ""},
		{"white space folded", "<html>\n  <body>\r\n\thi</body>\n", "<html> <body> hi</body>"},
		{"control characters", "a\x00\x1bb", "a b"},
		{"invalid UTF-8", "a\xffb", "a?b"},
		{"long", strings.Repeat("x", 1000), strings.Repeat("x", SnippetBytes)},
		{"cut at a rune", strings.Repeat("é", 150), strings.Repeat("é", SnippetBytes/2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := snippet([]byte(tc.body))
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), SnippetBytes)
			require.True(t, utf8.ValidString(got))
		})
	}
}
