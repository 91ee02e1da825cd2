package harness

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the child when the harness dies, so
// that an interrupted run leaves no flowbot behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
