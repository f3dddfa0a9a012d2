package database

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/windows"
)

// stopOrphan: on Windows the postmaster is bound to this program's lifetime (bindChild), so none
// outlives it; PostgreSQL replaces a stale postmaster.pid itself (it probes the pid's signal
// pipe, which only a live postmaster has). A live postgres.exe under the pid is never signalled
// here: whatever it serves, starting is refused with the command that stops it.
func stopOrphan(cluster string, log *slog.Logger) error {
	b, err := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return nil
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return nil // no such process (or not ours to look at): PostgreSQL decides
	}
	defer windows.CloseHandle(h)
	var code uint32
	if windows.GetExitCodeProcess(h, &code) == nil && code != 259 { // STILL_ACTIVE
		return nil
	}
	buf := make([]uint16, windows.MAX_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return nil
	}
	exe := windows.UTF16ToString(buf[:n])
	if !strings.EqualFold(filepath.Base(exe), "postgres.exe") {
		return nil
	}
	pgctl := filepath.Join(filepath.Dir(exe), "pg_ctl.exe")
	return fmt.Errorf("a PostgreSQL server (pid %d, %s) may still be running on %s: stop it with '\"%s\" stop -D \"%s\" -m fast' and start again (nothing was changed)", pid, exe, cluster, pgctl, cluster)
}

// serverStaysIn: on Windows no PostgreSQL outlives the program (job object), so none is looked for.
func serverStaysIn(cluster string) int { return 0 }
