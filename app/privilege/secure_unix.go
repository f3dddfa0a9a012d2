//go:build unix

package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// SecureDir checks the data directory dir for the user the process runs as (call it after
// DropIfRoot): dir and every entry directly in it must belong to that user; dir must not be
// writable by group or others (refused: run chmod 700), and when it is readable by them it is
// restricted to its owner, with a warning. Each secret file in it (jwt-secret, *.secret) gets
// SecureFile. Symlinks inside dir are never followed to change anything; dir itself may be one.
// Errors are one sentence saying what to run.
func SecureDir(dir string, log *slog.Logger) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use data directory %s: %v", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory: set data_dir to a directory", dir)
	}
	me := os.Geteuid()
	if owner := ownerOf(st); owner != me {
		return notOwner(dir, "", owner, nameOf(me))
	}
	mode := st.Mode().Perm()
	if mode&0o022 != 0 {
		return fmt.Errorf("data directory %s is writable by other users (mode %04o): check that its contents are yours, then run 'chmod 700 %s'", dir, mode, dir)
	}
	if mode&0o077 != 0 {
		// Only bits are taken away: a directory the owner cannot write stays so, and says so later.
		if err := os.Chmod(dir, mode&^0o077); err != nil {
			return fmt.Errorf("cannot restrict data directory %s to its owner: %v; run 'chmod 700 %s'", dir, unwrapPath(err), dir)
		}
		log.Warn("the data directory was readable by other users: restricted it to its owner", "path", dir, "was", fmt.Sprintf("%04o", mode), "now", fmt.Sprintf("%04o", mode&^0o077))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read data directory %s: %v", dir, unwrapPath(err))
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			continue // whoever owns a link, it changes nothing here; its target is not ours to judge
		}
		info, err := e.Info() // lstat
		if err != nil {
			continue // removed meanwhile
		}
		if owner := ownerOf(info); owner != me {
			return notOwner(dir, e.Name(), owner, nameOf(me))
		}
		if e.Type().IsRegular() && isSecret(e.Name()) {
			if err := SecureFile(filepath.Join(dir, e.Name()), log); err != nil {
				return err
			}
		}
	}
	return nil
}

// isSecret says whether a file in the data directory holds a secret: auth.SecretFile, and the
// *.secret files (the embedded server's password).
func isSecret(name string) bool {
	return name == "jwt-secret" || strings.HasSuffix(name, ".secret")
}

// SecureFile checks the secret file path for the user the process runs as: a file writable by
// group or others is refused (it may have been replaced); one readable by them is restricted to
// its owner (0600) with a warning; one owned by another user is refused with the chown command. A
// missing file is no error. A symlink is not followed to change anything: its target is only
// checked, and a warning says what to run. Errors are one sentence saying what to run.
func SecureFile(path string, log *slog.Logger) error {
	lst, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot check the secret file %s: %v", path, unwrapPath(err))
	}
	if lst.Mode()&fs.ModeSymlink != 0 {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("cannot check the secret file %s: %v", path, unwrapPath(err))
		}
		target, _ := filepath.EvalSymlinks(path)
		return checkSecretMode(path, target, st.Mode().Perm(), log, nil)
	}
	if !lst.Mode().IsRegular() {
		return fmt.Errorf("the secret file %s is not a regular file: remove it", path)
	}
	// Checked and changed through one descriptor opened without following a symlink, so what is
	// changed is what was checked.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("cannot check the secret file %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot check the secret file %s: %v", path, unwrapPath(err))
	}
	me := os.Geteuid()
	if owner := ownerOf(st); owner != me {
		return fmt.Errorf("the secret file %s belongs to %s, not to %s, who runs the server: run 'chown %s: %s'", path, nameOf(owner), nameOf(me), nameOf(me), path)
	}
	return checkSecretMode(path, "", st.Mode().Perm(), log, f)
}

// checkSecretMode refuses a group/world-writable secret and restricts a readable one through f
// (nil: a symlink's target, only warned about).
func checkSecretMode(path, target string, mode fs.FileMode, log *slog.Logger, f *os.File) error {
	name := path
	if target != "" && target != path {
		name = target
	}
	if mode&0o022 != 0 {
		return fmt.Errorf("the secret file %s is writable by other users (mode %04o), so it may have been replaced: check it, then run 'chmod 600 %s'", path, mode, name)
	}
	if mode&0o077 == 0 {
		return nil
	}
	if f == nil {
		log.Warn("the secret file is readable by other users; it is a symlink, so it is left as it is: chmod 600 its target", "path", path, "target", name, "mode", fmt.Sprintf("%04o", mode))
		return nil
	}
	if err := f.Chmod(mode &^ 0o077); err != nil {
		return fmt.Errorf("cannot restrict the secret file %s to its owner: %v; run 'chmod 600 %s'", path, unwrapPath(err), path)
	}
	log.Warn("the secret file was readable by other users: restricted it to its owner; replace the secret if someone may have read it", "path", path, "was", fmt.Sprintf("%04o", mode), "now", fmt.Sprintf("%04o", mode&^0o077))
	return nil
}
