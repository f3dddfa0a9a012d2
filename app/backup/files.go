package backup

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// namePattern matches FileName's names.
var namePattern = regexp.MustCompile(`^healthcare-([0-9]{8}T[0-9]{6}Z)-v([0-9]+)\.backup$`)

// Entry is a backup file found by List.
type Entry struct {
	Path string
	Time time.Time // from the file's name
	Size int64
	Meta Meta  // when Err is nil
	Err  error // why the file cannot be restored (incomplete, damaged, newer format, unreadable)
}

// candidate is a regular file named like a backup.
type candidate struct {
	path string
	time time.Time
	size int64
}

// candidates lists dir's regular files named as FileName names them, newest first.
func candidates(dir string) ([]candidate, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list the backups in %s: %w", dir, err)
	}
	var out []candidate
	for _, de := range des {
		m := namePattern.FindStringSubmatch(de.Name())
		if m == nil || !de.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(nameTimeLayout, m[1])
		if err != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, candidate{path: filepath.Join(dir, de.Name()), time: t, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].time.Equal(out[j].time) {
			return out[i].time.After(out[j].time)
		}
		return out[i].path > out[j].path
	})
	return out, nil
}

// List returns the backups in dir (the files named as FileName names them), newest first by the
// time in their names. Each is verified in full; Err says why one cannot be restored.
func List(dir string) ([]Entry, error) {
	cs, err := candidates(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(cs))
	for i, c := range cs {
		out[i] = Entry{Path: c.path, Time: c.time, Size: c.size}
		out[i].Meta, out[i].Err = ReadMeta(c.path)
	}
	return out, nil
}

// Prune deletes old backups in dir, keeping the newest keep backups that verify in full, and
// returns the paths it removed. It removes only files that are named as FileName names them, that
// start with a backup's magic line, and that are older than the keep newest intact backups:
// foreign files, and damaged ones newer than those, are left alone. Nothing is removed until keep
// intact backups exist.
func Prune(dir string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("cannot prune backups keeping %d: keep at least one", keep)
	}
	cs, err := candidates(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	intact := 0
	for _, c := range cs {
		if intact < keep {
			if Verify(c.path) == nil {
				intact++
			}
			continue
		}
		if !hasMagic(c.path) {
			continue
		}
		if err := os.Remove(c.path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c.path)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("cannot remove some old backups in %s: %w; check the directory's permissions", dir, errors.Join(errs...))
	}
	return removed, nil
}

// hasMagic reports whether path starts like a backup of any format version: a gzip stream whose
// header carries the magic as its comment (as Dump writes it), or whose text starts with the magic.
func hasMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	if zr.Comment == magic {
		return true
	}
	head := make([]byte, len(magic)+1)
	_, err = io.ReadFull(zr, head)
	return err == nil && string(head) == magic+" "
}

// Newest returns the time in the name of the newest backup in dir, without reading any file (zero
// when there is none): the scheduler's cheap "is one due?" check.
func Newest(dir string) time.Time {
	cs, err := candidates(dir)
	if err != nil || len(cs) == 0 {
		return time.Time{}
	}
	return cs[0].time
}

// Files returns the backups in dir (the files named as FileName names them), newest first, without
// reading them: Meta is empty and Err nil (List verifies each in full). SchemaVersion is the one
// in the name.
func Files(dir string) ([]Entry, error) {
	cs, err := candidates(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(cs))
	for i, c := range cs {
		out[i] = Entry{Path: c.path, Time: c.time, Size: c.size}
		if m := namePattern.FindStringSubmatch(filepath.Base(c.path)); m != nil {
			out[i].Meta.SchemaVersion, _ = strconv.Atoi(m[2])
		}
	}
	return out, nil
}

// ValidName reports whether name is a backup's file name as FileName makes it (no directory).
func ValidName(name string) bool { return namePattern.MatchString(name) }
