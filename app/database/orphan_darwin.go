package database

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopOrphan handles a postmaster.pid found in cluster before start (see the Linux version for
// the rules). macOS has no /proc: the process's executable and arguments come from the
// kern.procargs2 sysctl, readable for the user's own processes. A live PostgreSQL is stopped only
// when it runs a postgres executable with "-D <this cluster>" (how this program starts it) and
// postmaster.pid names the cluster; any other process is never signalled.
func stopOrphan(cluster string, log *slog.Logger) error {
	pidFile := filepath.Join(cluster, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	if pid == os.Getpid() {
		return removeStalePID(cluster, pid, "its pid is this process's", log)
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil
	}
	exe, args, err := procArgs(pid)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
			// Another user's process (or one that just exited): never signalled.
			return fmt.Errorf("a process (pid %d) that may be a PostgreSQL server of another user is named in %s: stop it if it serves this directory, or remove that file if it does not", pid, pidFile)
		}
		return nil
	}
	if !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return removeStalePID(cluster, pid, "its pid now belongs to another program ("+filepath.Base(exe)+"), which is left alone", log)
	}
	dataArg := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-D" {
			dataArg = args[i+1]
		}
	}
	named := ""
	if len(lines) > 1 {
		named = strings.TrimSpace(lines[1])
	}
	if !sameDir(dataArg, cluster) || !sameDir(named, cluster) {
		return removeStalePID(cluster, pid, "its pid now belongs to another PostgreSQL server (serving "+dataArg+"), which is left alone", log)
	}
	log.Warn("embedded PostgreSQL: a server left running by an earlier run of this program was found; stopping it", "pid", pid, "cluster", cluster)
	return stopPID(pid, 60*time.Second)
}

// procArgs reads the executable path and argv of pid from kern.procargs2: a 32-bit argc, the
// executable path, NUL padding, then argc NUL-terminated arguments.
func procArgs(pid int) (exe string, args []string, err error) {
	raw, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return "", nil, err
	}
	if len(raw) < 4 {
		return "", nil, errors.New("short kern.procargs2")
	}
	argc := int(binary.LittleEndian.Uint32(raw[:4]))
	rest := raw[4:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return "", nil, errors.New("malformed kern.procargs2")
	}
	exe, rest = string(rest[:i]), rest[i:]
	rest = bytes.TrimLeft(rest, "\x00")
	for len(args) < argc && len(rest) > 0 {
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			j = len(rest)
		}
		args = append(args, string(rest[:j]))
		if j == len(rest) {
			break
		}
		rest = rest[j+1:]
	}
	return exe, args, nil
}

// serverStaysIn would find a PostgreSQL process running in cluster whatever its pid file says;
// macOS has no /proc to look through, so only postmaster.pid is relied on there.
func serverStaysIn(cluster string) int { return 0 }
