//go:build unix

package dbtest

import (
	"os"
	"os/exec"
	"syscall"
)

// startWatchdog starts a shell in its own session that waits for our end of a pipe to close (this
// process exited, however it exited) and then stops the server and removes its directory.
func startWatchdog(binDir, cluster, dir string) {
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	cmd := exec.Command("/bin/sh", "-c", `cat >/dev/null; "$0/pg_ctl" stop -m immediate -w -D "$1" >/dev/null 2>&1; rm -rf "$2"`, binDir, cluster, dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return
	}
	r.Close()
	watchdog, watchPipe = cmd, w
}
