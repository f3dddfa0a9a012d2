//go:build unix

package database

import (
	"os"
	"syscall"
)

// openNoFollow makes opening the lock file fail on a symlink swapped in for it.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_CLOEXEC

var errWouldBlock = syscall.EWOULDBLOCK

// lockFile takes an flock on f without waiting: exclusive, or shared to probe for an owner.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// openDir opens the data directory itself, to be locked too.
func openDir(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}
