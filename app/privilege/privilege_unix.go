//go:build unix

package privilege

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
)

// DropIfRoot switches the whole process to the user runAs when it runs as root (effective uid 0);
// otherwise it does nothing and reports the current user. dirs are data directories: before
// switching, each missing one is created (with its missing parents) for runAs, mode 0700, and an
// existing one owned by anyone but runAs is refused with the chown command to run. An existing
// directory is never changed: a recursive chown as root would follow a symlink swapped in during
// the walk and hand any file to runAs. After the switch HOME and USER name runAs, and HOME is
// runAs's home directory, or the first of dirs when that home is missing or not writable.
// After the switch each of dirs is checked to be writable (every parent must be searchable by
// runAs); that error comes with dropped == true.
//
// Call it early, before the process starts servers or writes files: Go applies the change to every
// thread, but files created as root before the drop stay root's. A listener opened before the call
// keeps working, which is how root serves a port below 1024.
func DropIfRoot(runAs string, dirs ...string) (userName string, dropped bool, err error) {
	if os.Geteuid() != 0 {
		return nameOf(os.Geteuid()), false, nil
	}
	if runAs == "" || runAs == "root" {
		return "", false, errors.New("the process runs as root and PostgreSQL refuses to: set embedded.run_as to an existing unprivileged user")
	}
	u, err := user.Lookup(runAs)
	if err != nil {
		return "", false, fmt.Errorf("the process runs as root and must switch to user %q, which does not exist (PostgreSQL never runs as root): %s, or set embedded.run_as to an existing unprivileged user", runAs, createUserHint(runAs))
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return "", false, fmt.Errorf("user %q has a non-numeric uid or gid: set embedded.run_as to an existing unprivileged user", runAs)
	}
	if uid == 0 {
		return "", false, fmt.Errorf("user %q is root (uid 0): set embedded.run_as to an existing unprivileged user", runAs)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		d, _ = filepath.Abs(d)
		if err := makeDirs(d, uid, gid); err != nil {
			return "", false, err
		}
		// Stat, not Lstat: a data directory the operator made a symlink is legitimate.
		st, err := os.Stat(d)
		if err != nil {
			return "", false, fmt.Errorf("cannot use data directory %s: %v", d, unwrapPath(err))
		}
		if !st.IsDir() {
			return "", false, fmt.Errorf("data directory %s is not a directory: set data_dir to a directory", d)
		}
		if owner := ownerOf(st); owner != uid {
			return "", false, notOwner(d, "", owner, u.Username)
		}
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				groups = append(groups, n)
			}
		}
	}
	// Order matters: supplementary groups and gid can only be changed while still root.
	if err := syscall.Setgroups(groups); err != nil {
		return "", false, fmt.Errorf("cannot switch to user %s (setgroups): %v", runAs, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return "", false, fmt.Errorf("cannot switch to user %s (setgid): %v", runAs, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return "", false, fmt.Errorf("cannot switch to user %s (setuid): %v", runAs, err)
	}
	// A directory under a parent the user cannot enter (e.g. /root) is unusable although it is theirs.
	for _, d := range dirs {
		if d != "" {
			if err := CheckWritable(d); err != nil {
				return u.Username, true, err
			}
		}
	}
	home := u.HomeDir
	if home == "" || CheckWritable(home) != nil {
		home = os.TempDir()
		for _, d := range dirs {
			if d != "" {
				home = d
				break
			}
		}
	}
	os.Setenv("HOME", home)
	os.Setenv("USER", u.Username)
	os.Setenv("LOGNAME", u.Username)
	return u.Username, true, nil
}

// createUserHint is the exact command that creates the missing user to run as. Instead of a user
// named postgres (the default of embedded.run_as, which a PostgreSQL package creates) it suggests
// a system user healthcare and the setting that selects it.
func createUserHint(runAs string) string {
	name, setting := runAs, ""
	if runAs == "postgres" {
		name, setting = "healthcare", " and set embedded.run_as to healthcare (HEALTHCARE_EMBEDDED_RUN_AS=healthcare)"
	}
	if runtime.GOOS != "linux" {
		return "create an unprivileged user " + name + setting
	}
	return "create one with 'useradd --system --user-group --no-create-home --shell /usr/sbin/nologin " + name + "'" + setting
}
