package database

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LockFileName is the file in the data directory whose exclusive lock (flock; LockFileEx on
// Windows) marks the one
// process that owns the directory. Its content describes that process, for the refusal message
// of a second one and for tools (backup) that talk to the running server's PostgreSQL.
const LockFileName = "healthcare.lock"

// LockInfo is what the owner of a data directory writes into its lock file.
type LockInfo struct {
	PID       int       `json:"pid"`
	Command   string    `json:"command"`             // "serve", "migrate", "backup"...
	StartedAt time.Time `json:"started_at"`          // when the lock was taken
	Port      int       `json:"postgres_port"`       // the embedded PostgreSQL's port on 127.0.0.1, once it runs
	HTTP      string    `json:"http_addr,omitempty"` // the HTTP listen address, for serve
}

// DirLock is the exclusive lock of a data directory, held until Release (or the process's end:
// the kernel drops an flock with the last descriptor, so a SIGKILLed owner never leaves a stale
// lock behind).
type DirLock struct {
	dir  string
	f    *os.File
	d    *os.File // the directory itself, locked too: removing the lock file must not free it
	info LockInfo
	refs int
	// serving is set while this process runs the embedded server on the directory, so that a
	// second StartEmbedded in the same process is refused like a second process.
	serving bool
}

var (
	locksMu sync.Mutex
	locks   = map[string]*DirLock{} // held by this process, by absolute directory
)

// ErrLocked is returned (wrapped in a sentence) when another process owns the data directory.
var ErrLocked = errors.New("data directory in use")

// LockDataDir takes the exclusive lock of dir for command, creating dir (0700) when missing. When
// this process already holds it, the same lock is returned (and must be released as often as it
// was taken). When another process holds it, the error names that process and says what to do;
// nothing in dir is changed.
func LockDataDir(dir, command string) (*DirLock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	locksMu.Lock()
	defer locksMu.Unlock()
	if l := locks[abs]; l != nil {
		l.refs++
		return l, nil
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory %s: %v", abs, unwrapPath(err))
	}
	// The directory is locked first: an operator may remove healthcare.lock as "stale" while its
	// owner runs, and a lock on a new file of that name would then let a second owner in.
	// (Windows has no lock on a directory, but there a file open in another process cannot be
	// removed.)
	d, err := openDir(abs)
	if err != nil {
		return nil, fmt.Errorf("cannot open the data directory %s: %v", abs, unwrapPath(err))
	}
	if d != nil {
		if err := lockFile(d, true); err != nil {
			d.Close()
			if errors.Is(err, errWouldBlock) {
				return nil, lockedError(abs)
			}
			return nil, fmt.Errorf("cannot lock the data directory %s: %v", abs, err)
		}
	}
	path := filepath.Join(abs, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|openNoFollow, 0o600)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("cannot open the lock file %s: %v", path, unwrapPath(err))
	}
	if err := lockFile(f, true); err != nil {
		f.Close()
		d.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, lockedError(abs)
		}
		return nil, fmt.Errorf("cannot lock the data directory %s: %v", abs, err)
	}
	l := &DirLock{dir: abs, f: f, d: d, refs: 1, info: LockInfo{PID: os.Getpid(), Command: command, StartedAt: time.Now().UTC().Truncate(time.Second)}}
	if err := l.write(); err != nil {
		l.f.Close()
		l.d.Close()
		return nil, err
	}
	locks[abs] = l
	return l, nil
}

// lockedError is the one sentence a second process gets.
func lockedError(dir string) error {
	who := "another healthcare process"
	if info, err := ReadLockInfo(dir); err == nil && info.PID > 0 {
		who = fmt.Sprintf("another healthcare process (pid %d, 'healthcare %s', since %s)", info.PID, info.Command, info.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return fmt.Errorf("%w: data directory %s is in use by %s; stop that process first, or choose another data_dir (nothing was changed)", ErrLocked, dir, who)
}

// ReadLockInfo reads what the owner of dir wrote into its lock file. It does not tell whether the
// owner is still alive: use Owner for that.
func ReadLockInfo(dir string) (LockInfo, error) {
	var info LockInfo
	b, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("the lock file in %s is not readable: %v", dir, err)
	}
	return info, nil
}

// Owner reports the process that holds dir's lock now, if any (probing the directory and the lock
// file with a shared lock that is released at once).
func Owner(dir string) (LockInfo, bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return LockInfo{}, false, err
	}
	locksMu.Lock()
	mine := locks[abs]
	locksMu.Unlock()
	if mine != nil {
		return mine.info, true, nil
	}
	for _, path := range []string{abs, filepath.Join(abs, LockFileName)} {
		var f *os.File
		if path == abs {
			f, err = openDir(abs) // the data directory itself may be a symbolic link
			if err == nil && f == nil {
				continue // Windows: no directory lock
			}
		} else {
			f, err = os.OpenFile(path, os.O_RDONLY|openNoFollow, 0)
		}
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return LockInfo{}, false, fmt.Errorf("cannot open %s: %v", path, unwrapPath(err))
		}
		err = lockFile(f, false)
		if err == nil {
			unlockFile(f)
		}
		f.Close()
		if errors.Is(err, errWouldBlock) {
			info, err := ReadLockInfo(abs)
			return info, true, err
		}
		if err != nil {
			return LockInfo{}, false, err
		}
	}
	return LockInfo{}, false, nil
}

// Dir is the locked directory.
func (l *DirLock) Dir() string { return l.dir }

// SetPort records the embedded PostgreSQL's port in the lock file.
func (l *DirLock) SetPort(port int) error {
	locksMu.Lock()
	defer locksMu.Unlock()
	l.info.Port = port
	return l.write()
}

// SetHTTP records the HTTP listen address in the lock file.
func (l *DirLock) SetHTTP(addr string) error {
	locksMu.Lock()
	defer locksMu.Unlock()
	l.info.HTTP = addr
	return l.write()
}

// write replaces the lock file's content in place (the lock belongs to the open file, so the file
// itself must stay).
func (l *DirLock) write() error {
	b, _ := json.Marshal(l.info)
	b = append(b, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("cannot write the lock file in %s: %v", l.dir, err)
	}
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("cannot write the lock file in %s: %v", l.dir, err)
	}
	return nil
}

// Release gives the lock up once all its takers have released it. The file stays (removing it
// would let a third process lock a new file while a second still waits on the old one).
func (l *DirLock) Release() {
	if l == nil {
		return
	}
	locksMu.Lock()
	defer locksMu.Unlock()
	l.refs--
	if l.refs > 0 {
		return
	}
	delete(locks, l.dir)
	l.info.Port = 0
	l.info.HTTP = ""
	unlockFile(l.f)
	l.f.Close()
	if l.d != nil {
		unlockFile(l.d)
		l.d.Close()
	}
}
