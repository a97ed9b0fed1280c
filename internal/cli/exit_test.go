package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/cli"
	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/pkg/config"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code int
		kind string
	}{
		{nil, 0, ""},
		{&config.Error{Column: "c", Msg: "bad"}, 2, "config error"},
		{&cli.UsageError{Err: os.ErrInvalid}, 2, "usage error"},
		{&lifecycle.AbortedError{RunID: "r", Reason: "x"}, 3, "aborted"},
		{&lifecycle.DatasetGenerationError{RunID: "r", Group: 1, Err: os.ErrClosed}, 1, "generation error"},
		{&deploy.FlagError{Err: os.ErrInvalid}, 2, "usage error"},
		{fmt.Errorf("abort: %w", &deploy.RunIDError{Run: "r", Err: os.ErrNotExist}), 2, "usage error"},
		{deploy.ErrNoDeployment, 1, "error"},
		{os.ErrPermission, 1, "error"},
	} {
		require.Equal(t, tc.code, cli.ExitCode(tc.err))
		if tc.err != nil {
			require.Regexp(t, "^"+tc.kind+": ", cli.ErrorLine(tc.err))
		}
	}
}

// A multi-line error (errors.Join's) stays on one line.
func TestErrorLineIsOneLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, "error: a; b", cli.ErrorLine(fmt.Errorf("a\nb")))
}
