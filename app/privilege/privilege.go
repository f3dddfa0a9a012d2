// Package privilege drops root privileges to an unprivileged user, for the embedded PostgreSQL
// server (which refuses to run as root) and for tests run as root, and keeps the data directory
// and its secret files to that user (SecureDir, SecureFile). On Windows there is no root to drop
// and files have no Unix modes: DropIfRoot does nothing and the checks only test the directory.
package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
)

// CheckWritable reports, in one sentence, whether the current user can create files in dir.
func CheckWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable by user %s: %v", dir, currentUser(), unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// nameOf is the name of the user uid, or the number when it has no name.
func nameOf(uid int) string {
	// Not user.Current: it caches the user from before a privilege drop.
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// notOwner is the refusal of a data directory (or of the entry name inside it) that belongs to
// owner instead of runAs: it names the command that fixes it. Nothing is changed for the user: a
// chown of a whole tree is the operator's decision, made knowing which tree it is.
func notOwner(dir, name string, owner int, runAs string) error {
	what := "data directory " + dir
	if name != "" {
		what += " holds " + name + ", which"
	}
	return fmt.Errorf("%s belongs to %s, not to %s, who runs the server: run 'chown -R %s: %s' (check it is the right directory), or set data_dir",
		what, nameOf(owner), runAs, runAs, dir)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
