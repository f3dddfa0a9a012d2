//go:build !linux

package database

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncTree puts every regular file under dir on disk, one fsync each (opened for writing:
// Windows flushes only such handles), and, except on Windows, every directory.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		if d.IsDir() {
			return syncDir(p)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
