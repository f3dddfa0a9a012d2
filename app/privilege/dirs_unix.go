//go:build unix

package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// makeDirs creates dir and its missing parents for uid:gid, mode 0700; existing directories are
// left as they are. It runs as root, before the drop, because the usual parent (/var/lib) is
// writable by root only. Each missing directory is made and opened relative to the descriptor of
// its parent, without following symlinks, and only a directory this call made (still root's when
// opened) is handed over: no path is resolved twice, so a directory renamed or a symlink swapped in
// meanwhile is refused instead of changed.
func makeDirs(dir string, uid, gid int) error {
	var missing []string // the names to create, deepest first
	top := dir
	for {
		_, err := os.Stat(top)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(top) == top {
			return fmt.Errorf("cannot create directory %s: %v", dir, unwrapPath(err))
		}
		missing = append(missing, filepath.Base(top))
		top = filepath.Dir(top)
	}
	if len(missing) == 0 {
		return nil
	}
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot create directory %s: %v", dir, err)
	}
	defer func() { unix.Close(fd) }()
	path := top
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		path = filepath.Join(path, name)
		err := unix.Mkdirat(fd, name, 0o700)
		made := err == nil
		if err != nil && err != unix.EEXIST { // EEXIST: another copy starting at the same time
			return fmt.Errorf("cannot create directory %s: %v", path, err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cannot create directory %s: %v", path, err)
		}
		unix.Close(fd)
		fd = next
		if !made {
			waitHandedOver(fd, uid)
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("cannot create directory %s: %v", path, err)
		}
		if st.Uid != uint32(os.Geteuid()) {
			return fmt.Errorf("directory %s was replaced by another user's while being created: check who can write to %s", path, filepath.Dir(path))
		}
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("cannot hand directory %s to uid %d: %v", path, uid, err)
		}
		if err := unix.Fchmod(fd, 0o700); err != nil { // the umask may have taken bits away
			return fmt.Errorf("cannot set the mode of directory %s: %v", path, err)
		}
	}
	return nil
}

// ownerOf is the uid that owns the file st describes.
func ownerOf(st fs.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}

// currentUser is the name of the user the process runs as now.
func currentUser() string { return nameOf(os.Geteuid()) }

// waitHandedOver waits (up to 2 s) while the directory fd, found made by someone else a moment
// ago, still belongs to this process's user (root): another copy starting at the same time is
// between its mkdir and its chown. Nothing is changed here; the caller's owner check decides.
func waitHandedOver(fd, uid int) {
	for i := 0; i < 100; i++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || int(st.Uid) == uid || st.Uid != uint32(os.Geteuid()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledOwner returns dir's file info once an empty dir that still belongs to this process's
// user (root) has been handed to uid by another copy starting at the same time, which made it
// a moment ago and is between its mkdir and its chown; after 2 s, or for a directory with
// anything in it, it returns st as it was. Nothing is changed here.
func settledOwner(dir string, uid int, st fs.FileInfo) fs.FileInfo {
	if ownerOf(st) != os.Geteuid() || ownerOf(st) == uid {
		return st
	}
	for i := 0; i < 100; i++ {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
			return st
		}
		time.Sleep(20 * time.Millisecond)
		now, err := os.Stat(dir)
		if err != nil {
			return st
		}
		if ownerOf(now) == uid {
			return now
		}
	}
	return st
}
