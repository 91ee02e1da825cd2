//go:build !linux

package harness

import "os/exec"

// setDeathSignal does nothing outside Linux.
func setDeathSignal(*exec.Cmd) {}
