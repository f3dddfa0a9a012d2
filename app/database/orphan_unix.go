//go:build unix

package database

import (
	"fmt"
	"syscall"
	"time"
)

// stopPID stops a postmaster that is not our child: fast shutdown, then immediate.
func stopPID(pid int, timeout time.Duration) error {
	gone := func() bool { return syscall.Kill(pid, 0) != nil }
	for _, step := range []struct {
		sig syscall.Signal
		d   time.Duration
	}{{syscall.SIGINT, timeout * 3 / 4}, {syscall.SIGQUIT, timeout / 4}} {
		if err := syscall.Kill(pid, step.sig); err != nil {
			return nil
		}
		for end := time.Now().Add(step.d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if gone() {
				return nil
			}
		}
	}
	return fmt.Errorf("the PostgreSQL server (pid %d) left running by an earlier run did not stop: stop it (kill %d) and start again", pid, pid)
}
