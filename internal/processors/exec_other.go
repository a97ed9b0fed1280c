//go:build !unix

package processors

import "os/exec"

// setProcessGroup leaves os/exec's default: cancelling kills the program only.
func setProcessGroup(*exec.Cmd) {}
