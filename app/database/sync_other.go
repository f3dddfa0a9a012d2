//go:build !linux

package database

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncTree puts every regular file and directory under dir on disk, one fsync each.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil && d.Type().IsRegular() {
			return err
		}
		return nil
	})
}
