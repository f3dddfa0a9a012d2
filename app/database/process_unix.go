//go:build unix

package database

import (
	"os/exec"
	"syscall"
)

// exeSuffix is what executables' names end with.
const exeSuffix = ""

// childProcAttr puts PostgreSQL in its own process group, so that a Ctrl-C on the terminal reaches
// this program only, which then stops PostgreSQL in order.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// bindChild has nothing to do on Unix: a PostgreSQL outliving a killed program is found and
// stopped at the next start (stopOrphan).
func bindChild(*exec.Cmd) error { return nil }

// killChild ends the postmaster and every process of its group at once.
func killChild(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// signalShutdown asks the postmaster for a fast (SIGINT) or immediate (SIGQUIT) shutdown.
func (p *postmaster) signalShutdown(cmd *exec.Cmd, mode shutdownMode) error {
	sig := syscall.SIGINT
	if mode == shutdownImmediate {
		sig = syscall.SIGQUIT
	}
	return cmd.Process.Signal(sig)
}
