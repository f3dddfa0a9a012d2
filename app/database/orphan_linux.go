package database

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopOrphan handles a postmaster.pid found in cluster before start. The caller holds the data
// directory's lock, so no live healthcare process owns a server on it. A live PostgreSQL is
// stopped only when it provably serves this cluster (its working directory is the cluster and
// postmaster.pid names the cluster); a pid that now belongs to anything else (after a reboot:
// another program, or another PostgreSQL of the same user) is never signalled, and the stale pid
// file is removed so that PostgreSQL does not take that process for a running server.
func stopOrphan(cluster string, log *slog.Logger) error {
	pidFile := filepath.Join(cluster, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil // unreadable: PostgreSQL itself handles (and replaces) it
	}
	if pid == os.Getpid() {
		return removeStalePID(cluster, pid, "this process", log)
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil // no such process: PostgreSQL replaces a stale file itself
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // exited meanwhile
		}
		// Another user's process: /proc/PID/comm is readable by everyone.
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "postgres" {
			return fmt.Errorf("a PostgreSQL server (pid %d) owned by another user may be running on %s: stop it, or start this program as that user", pid, cluster)
		}
		return removeStalePID(cluster, pid, "another program", log)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return removeStalePID(cluster, pid, "another program ("+filepath.Base(exe)+")", log)
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	named := ""
	if len(lines) > 1 {
		named = strings.TrimSpace(lines[1])
	}
	if !sameDir(cwd, cluster) || !sameDir(named, cluster) {
		return removeStalePID(cluster, pid, "another PostgreSQL server (serving "+cwd+")", log)
	}
	log.Warn("embedded PostgreSQL: a server left running by an earlier run of this program was found; stopping it", "pid", pid, "cluster", cluster)
	return stopPID(pid, 60*time.Second)
}
