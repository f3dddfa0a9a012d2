package privilege

import (
	"fmt"
	"log/slog"
	"os"
)

// SecureDir checks that the data directory dir is a directory. Windows files have no Unix owner
// or mode bits: the default data directory under %LOCALAPPDATA% is private to its user through
// its ACL, and a data_dir elsewhere keeps the ACL of its parent.
func SecureDir(dir string, log *slog.Logger) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use data directory %s: %v", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory: set data_dir to a directory", dir)
	}
	return nil
}

// SecureFile only checks that a secret file, when present, is a regular file (see SecureDir).
func SecureFile(path string, log *slog.Logger) error {
	st, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("the secret file %s is not a regular file: remove it", path)
	}
	return nil
}
