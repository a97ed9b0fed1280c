package testbin

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the child when the test process dies, so a test binary
// killed by -timeout does not leave servers running.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
