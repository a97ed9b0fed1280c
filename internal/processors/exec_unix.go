//go:build unix

package processors

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup starts the program in a process group of its own and makes cancelling it
// kill the whole group, so that what the program started (a shell's children) dies with it
// and does not keep its output open.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
