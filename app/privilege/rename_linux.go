package privilege

import "golang.org/x/sys/unix"

// renameNoReplace renames from to to, both in the directory fd, failing with EEXIST when to exists.
func renameNoReplace(fd int, from, to string) error {
	return unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
}
