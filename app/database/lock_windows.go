package database

import (
	"os"

	"golang.org/x/sys/windows"
)

// openNoFollow: Windows has no O_NOFOLLOW; a symbolic link there needs privileges to create.
const openNoFollow = 0

var errWouldBlock = windows.ERROR_LOCK_VIOLATION

// lockRange is the byte range LockFileEx locks: one byte far past the end of the file, because a
// Windows lock is mandatory and the owner's description at the start must stay readable by others.
const (
	lockOffsetLow  = 0xFFFFFFFE
	lockOffsetHigh = 0x7FFFFFFF
)

// lockFile takes a LockFileEx lock on f without waiting: exclusive, or shared to probe for an
// owner. Windows drops it when the process ends, like flock.
func lockFile(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := windows.Overlapped{Offset: lockOffsetLow, OffsetHigh: lockOffsetHigh}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &ol)
}

func unlockFile(f *os.File) {
	ol := windows.Overlapped{Offset: lockOffsetLow, OffsetHigh: lockOffsetHigh}
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// openDir returns nil: a directory cannot be locked on Windows, and there the lock file cannot
// be removed while its owner holds it open (no FILE_SHARE_DELETE), so its lock suffices.
func openDir(dir string) (*os.File, error) { return nil, nil }
