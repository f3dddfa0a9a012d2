//go:build unix

package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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
		if err := makeDirAt(fd, name, path, uid, gid); err != nil {
			return err
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cannot create directory %s: %v", path, err)
		}
		unix.Close(fd)
		fd = next
	}
	return nil
}

// makeDirAt creates name in the directory fd, already owned by uid:gid with mode 0700: it is made
// under a temporary name, handed over, and renamed into place without replacing anything. So no
// other process ever sees it owned by root (two copies starting at once on a new data directory
// used to: the second refused the first's directory as "belonging to root"). When another copy
// made it first, its directory is used and ours is removed.
func makeDirAt(fd int, name, path string, uid, gid int) error {
	tmp := fmt.Sprintf(".%s.creating-%d", name, os.Getpid())
	if err := unix.Mkdirat(fd, tmp, 0o700); err != nil {
		return fmt.Errorf("cannot create directory %s: %v", path, err)
	}
	tfd, err := unix.Openat(fd, tmp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot create directory %s: %v", path, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(tfd, &st)
	if err == nil && st.Uid != uint32(os.Geteuid()) {
		err = fmt.Errorf("it was replaced by another user's while being created: check who can write to %s", filepath.Dir(path))
	}
	if err == nil {
		err = unix.Fchown(tfd, uid, gid)
	}
	if err == nil {
		err = unix.Fchmod(tfd, 0o700) // the umask may have taken bits away
	}
	unix.Close(tfd)
	if err == nil {
		err = renameNoReplace(fd, tmp, name)
		if errors.Is(err, unix.EEXIST) {
			err = nil // another copy starting at the same time made it: use that one
		} else if err == nil {
			return nil
		}
	}
	unix.Unlinkat(fd, tmp, unix.AT_REMOVEDIR)
	if err != nil {
		return fmt.Errorf("cannot create directory %s: %v", path, err)
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
