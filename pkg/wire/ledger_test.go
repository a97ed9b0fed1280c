package wire

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeGroupEnd(t *testing.T) {
	t.Parallel()
	committed := `{"status":"committed","commit":{"group":7,"rows":100,"path":"parquet-files/batch_00007.parquet"}}`
	for _, tc := range []struct {
		name, key, body string
		wantGroup       int
		wantErr         string
	}{
		{"committed", "run1.7", committed, 7, ""},
		{"dropped", "run1.3", `{"status":"dropped"}`, 3, ""},
		{"commit of another group", "run1.8", committed, 0, "not of group 8"},
		{"committed without commit", "run1.7", `{"status":"committed"}`, 0, "commit missing"},
		{"unknown status", "run1.1", `{"status":"maybe"}`, 0, `unknown status "maybe"`},
		{"no group in key", "run1", `{"status":"dropped"}`, 0, "no group index"},
		{"bad index", "run1.x", `{"status":"dropped"}`, 0, "no group index"},
		{"not JSON", "run1.1", `{`, 0, "ledger entry run1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, end, err := DecodeGroupEnd(tc.key, []byte(tc.body))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, end)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantGroup, g)
		})
	}
}

func FuzzDecodeGroupEnd(f *testing.F) {
	f.Add("r.7", []byte(`{"status":"committed","commit":{"group":7,"rows":100,"path":"p"}}`))
	f.Add("r.3", []byte(`{"status":"dropped"}`))
	f.Add("r.3", []byte(`{"status":"committed","commit":{"group":3,"rows":-1}}`))
	f.Fuzz(func(t *testing.T, key string, b []byte) {
		g, end, err := DecodeGroupEnd(key, b)
		if err != nil {
			require.Nil(t, end)
			return
		}
		require.GreaterOrEqual(t, g, 0)
		if end.Status == EndCommitted {
			require.Equal(t, g, end.Commit.Group)
			require.GreaterOrEqual(t, end.Commit.Rows, 0)
		} else {
			require.Equal(t, EndDropped, end.Status)
		}
	})
}

func TestCellKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, col := range []string{"answer", "a.b c/d", "ünïcode", ""} {
		key := CellKey("run1", 3, col, 17)
		require.NoError(t, ValidKeyChars(key), key)
		got, row, err := ParseCellKey(key)
		require.NoError(t, err)
		require.Equal(t, col, got)
		require.Equal(t, 17, row)
		require.True(t, strings.HasPrefix(key, strings.TrimSuffix(CellsOf("run1", 3), ">")))
	}
	for _, bad := range []string{"run1.3.x", "run1.3.!!.1", "run1.3.YQ.-1", "run1.3.YQ.x"} {
		_, _, err := ParseCellKey(bad)
		require.Error(t, err, bad)
	}
}

func FuzzParseCellKey(f *testing.F) {
	f.Add(CellKey("r", 0, "answer", 5))
	f.Add("r.0.!.5")
	f.Fuzz(func(t *testing.T, key string) {
		col, row, err := ParseCellKey(key)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, row, 0)
		col2, row2, err := ParseCellKey(CellKey("r", 0, col, row))
		require.NoError(t, err)
		require.Equal(t, col, col2)
		require.Equal(t, row, row2)
	})
}

// ValidKeyChars reports whether key uses only the characters a KV key may hold.
func ValidKeyChars(key string) error {
	for _, c := range key {
		if !(c == '-' || c == '_' || c == '=' || c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("key %q has %q", key, c)
		}
	}
	return nil
}
