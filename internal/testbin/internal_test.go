package testbin

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildOnceBuildsAMainPackage(t *testing.T) {
	t.Parallel()
	p, err := buildOnce("hello", ModulePath+"/internal/testbin/testdata/hello")
	require.NoError(t, err)
	out, err := exec.Command(p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "hello from testbin", strings.TrimSpace(string(out)))

	again, err := buildOnce("hello", "not/even/a/package")
	require.NoError(t, err, "built once per process and name")
	require.Equal(t, p, again)
}

func TestBuildOnceReportsCompilerOutput(t *testing.T) {
	t.Parallel()
	_, err := buildOnce("missing", ModulePath+"/cmd/does-not-exist")
	require.ErrorContains(t, err, "go build")
	require.ErrorContains(t, err, "does-not-exist")
}

func TestServerNameArg(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
		ok   bool
	}{
		{nil, "", false},
		{[]string{"-D", "--max_payload", "2MB"}, "", false},
		{[]string{"-n", "a"}, "a", true},
		{[]string{"--name=b"}, "b", true},
		{[]string{"--server_name", "c", "-D"}, "c", true},
		{[]string{"-server_name=d"}, "d", true},
		{[]string{"-c", "n"}, "", false},
	} {
		got, ok := serverNameArg(tc.args)
		require.Equal(t, tc.ok, ok, "%q", tc.args)
		require.Equal(t, tc.want, got, "%q", tc.args)
	}
}
