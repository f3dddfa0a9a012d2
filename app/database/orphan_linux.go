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
// file is removed so that PostgreSQL does not take that process for a running server. An empty or
// damaged postmaster.pid (PostgreSQL refuses to start next to one) is removed too. A pid file is
// only ever removed when no PostgreSQL process runs in the cluster; when one does but the file
// does not name it as the cluster's server (the data directory was moved while it ran, or the file
// was edited), the start is refused and nothing is touched.
func stopOrphan(cluster string, log *slog.Logger) error {
	pidFile := filepath.Join(cluster, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		if running := serverStaysIn(cluster); running != 0 {
			return runningError(cluster, running, "although it has no postmaster.pid")
		}
		return nil
	}
	if err != nil {
		return nil // unreadable: PostgreSQL says what is wrong
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return removeStalePID(cluster, pid, fmt.Sprintf("it is empty or damaged (%q), which PostgreSQL refuses to start next to", firstLine(string(b))), log)
	}
	if pid == os.Getpid() {
		return removeStalePID(cluster, pid, "its pid is this process's", log)
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		if running := serverStaysIn(cluster); running != 0 {
			return runningError(cluster, running, fmt.Sprintf("although its postmaster.pid names pid %d, which does not exist", pid))
		}
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
		return removeStalePID(cluster, pid, "its pid now belongs to another program, which is left alone", log)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return removeStalePID(cluster, pid, "its pid now belongs to another program ("+filepath.Base(exe)+"), which is left alone", log)
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	named := ""
	if len(lines) > 1 {
		named = strings.TrimSpace(lines[1])
	}
	if sameDir(cwd, cluster) && !sameDir(named, cluster) {
		return runningError(cluster, pid, fmt.Sprintf("but its postmaster.pid names the data directory %q (was the directory moved or renamed while it ran?)", named))
	}
	if !sameDir(cwd, cluster) {
		return removeStalePID(cluster, pid, "its pid now belongs to another PostgreSQL server (serving "+cwd+"), which is left alone", log)
	}
	log.Warn("embedded PostgreSQL: a server left running by an earlier run of this program was found; stopping it", "pid", pid, "cluster", cluster)
	return stopPID(pid, 60*time.Second)
}

// serverIn returns the pid of a PostgreSQL process of this user whose working directory is cluster
// (the postmaster when it can tell it from its children), or 0 when there is none. PostgreSQL
// changes into its data directory before it writes postmaster.pid, so this finds a server whatever
// its pid file says.
func serverIn(cluster string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	found := map[int]int{} // pid -> parent pid
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || !sameDir(cwd, cluster) {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "postgres") {
			continue
		}
		if st := procState(pid); st == "" || st == "Z" || st == "X" {
			continue
		}
		found[pid] = parentPID(pid)
	}
	best := 0
	for pid, ppid := range found {
		if _, child := found[ppid]; child {
			continue
		}
		if best == 0 || pid < best {
			best = pid
		}
	}
	return best
}

// serverStaysIn is serverIn, given a few seconds: processes of a postmaster that was just killed
// (by the supervisor's stop, or from outside) take a moment to exit.
func serverStaysIn(cluster string) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid := serverIn(cluster)
		if pid == 0 || time.Now().After(deadline) {
			return pid
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procState is the state letter of /proc/PID/stat ("" when the process is gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 0 {
			return f[0]
		}
	}
	return ""
}

func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			return ppid
		}
	}
	return 0
}
