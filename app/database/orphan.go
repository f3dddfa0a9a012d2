package database

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// A server left running on the cluster: after a SIGKILL of this program PostgreSQL keeps running
// (it is in a process group of its own). stopOrphan, per platform, stops it at the next start only
// when it provably serves this cluster.

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
// this cluster. The process is never signalled.
func removeStalePID(cluster string, pid int, who string, log *slog.Logger) error {
	log.Warn("embedded PostgreSQL: removing a stale postmaster.pid; its pid now belongs to "+who+", which is left alone", "pid", pid, "cluster", cluster)
	if err := os.Remove(filepath.Join(cluster, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove the stale %s/postmaster.pid: %v", cluster, unwrapPath(err))
	}
	return nil
}
