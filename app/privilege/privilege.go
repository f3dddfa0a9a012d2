// Package privilege drops root privileges to an unprivileged user, for the embedded PostgreSQL
// server (which refuses to run as root) and for tests run as root.
package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// DropIfRoot switches the whole process to the user runAs when it runs as root (effective uid 0);
// otherwise it does nothing and reports the current user. Before switching it creates each of
// ownDirs and hands it (recursively) to runAs. After the switch HOME and USER name runAs, and HOME
// is runAs's home directory, or the first of ownDirs when that home is missing or not writable.
// After the switch each of ownDirs is checked to be writable (every parent must be searchable by
// runAs); that error comes with dropped == true.
//
// Call it early, before the process starts servers or writes files: Go applies the change to every
// thread, but files created as root before the drop stay root's.
func DropIfRoot(runAs string, ownDirs ...string) (userName string, dropped bool, err error) {
	if os.Geteuid() != 0 {
		name := strconv.Itoa(os.Geteuid())
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		return name, false, nil
	}
	if runAs == "" || runAs == "root" {
		return "", false, errors.New("the process runs as root and PostgreSQL refuses to: set embedded.run_as to an existing unprivileged user")
	}
	u, err := user.Lookup(runAs)
	if err != nil {
		return "", false, fmt.Errorf("the process runs as root and must switch to user %q, which does not exist: set embedded.run_as to an existing unprivileged user", runAs)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return "", false, fmt.Errorf("user %q has a non-numeric uid or gid: set embedded.run_as to an existing unprivileged user", runAs)
	}
	if uid == 0 {
		return "", false, fmt.Errorf("user %q is root (uid 0): set embedded.run_as to an existing unprivileged user", runAs)
	}
	for _, d := range ownDirs {
		if d == "" {
			continue
		}
		d, _ = filepath.Abs(d)
		// Directories MkdirAll creates on the way belong to the user too, or it could not enter them.
		top := d
		for {
			parent := filepath.Dir(top)
			if _, err := os.Stat(parent); err == nil || parent == top {
				break
			}
			top = parent
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", false, fmt.Errorf("cannot create directory %s: %v", d, err)
		}
		for p := d; ; p = filepath.Dir(p) {
			if p != d {
				if err := os.Lchown(p, uid, gid); err != nil {
					return "", false, fmt.Errorf("cannot hand directory %s to user %s: %v", p, runAs, err)
				}
			}
			if p == top || p == filepath.Dir(p) {
				break
			}
		}
		if err := chownR(d, uid, gid); err != nil {
			return "", false, fmt.Errorf("cannot hand directory %s to user %s: %v", d, runAs, err)
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
	// A directory under a parent the user cannot enter (e.g. /root) stays unusable after chown.
	for _, d := range ownDirs {
		if d != "" {
			if err := CheckWritable(d); err != nil {
				return u.Username, true, err
			}
		}
	}
	home := u.HomeDir
	if home == "" || CheckWritable(home) != nil {
		home = os.TempDir()
		for _, d := range ownDirs {
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

func chownR(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// CheckWritable reports, in one sentence, whether the current user can create files in dir.
func CheckWritable(dir string) error {
	name := strconv.Itoa(os.Geteuid())
	// Not user.Current: it caches the user from before a privilege drop.
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("data directory %s is not writable by user %s: %v", dir, name, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
