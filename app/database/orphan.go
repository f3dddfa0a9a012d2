package database

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// A server left running on the cluster: after a SIGKILL of this program PostgreSQL keeps running
// (it is in a process group of its own; on Windows a job object ends it with the program).
// stopOrphan, per platform, stops it at the next start only when it provably serves this cluster.

// runningError is the refusal when a PostgreSQL process runs in cluster without provably being the
// server an earlier run left: nothing is signalled or removed.
func runningError(cluster string, pid int, why string) error {
	return fmt.Errorf("a PostgreSQL server (pid %d) is running in %s %s, so it is not stopped automatically and nothing was changed: stop it (kill -INT %d), check that it is gone, and start again", pid, cluster, why, pid)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// removeStalePID removes a postmaster.pid whose pid now belongs to a process that does not serve
// this cluster (or that names no process). The process is never signalled. When a PostgreSQL
// process runs in the cluster after all, the file is left and the start refused.
func removeStalePID(cluster string, pid int, why string, log *slog.Logger) error {
	if running := serverStaysIn(cluster); running != 0 {
		return runningError(cluster, running, fmt.Sprintf("although its postmaster.pid names pid %d", pid))
	}
	log.Warn("embedded PostgreSQL: removing a stale postmaster.pid: "+why, "pid", pid, "cluster", cluster)
	if err := os.Remove(filepath.Join(cluster, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove the stale %s/postmaster.pid: %v", cluster, unwrapPath(err))
	}
	return nil
}
