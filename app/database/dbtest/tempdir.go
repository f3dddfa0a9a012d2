package dbtest

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// PrivateTempDir points TMPDIR, and so os.TempDir of this process and of every process it starts
// (PostgreSQL, Chromium, the healthcare binary), at a new directory of its own for the rest of the
// test binary. The returned done removes that directory and reports what was left in it: a test
// run must leave nothing behind outside the temporary directories its tests remove themselves,
// and a leftover found here names what to fix instead of piling up in the system's /tmp.
// The directory is world-writable with the sticky bit, like /tmp, because the tests and the
// binaries they run switch users.
func PrivateTempDir() (done func() error, err error) {
	base := os.TempDir()
	if strings.HasPrefix(base, "/root") { // unreachable for the users the tests switch to
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "healthcare-tests-")
	if err != nil {
		return nil, fmt.Errorf("cannot create the tests' temporary directory: %v", err)
	}
	if err := os.Chmod(dir, 0o1777); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir)
	return func() error {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
		entries, _ := os.ReadDir(dir)
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		sort.Strings(left)
		rmErr := os.RemoveAll(dir)
		switch {
		case len(left) > 0:
			return fmt.Errorf("the tests left files in their temporary directory %s (now removed): %s; remove them in the test that makes them",
				dir, strings.Join(left, ", "))
		case rmErr != nil:
			return fmt.Errorf("cannot remove the tests' temporary directory %s: %v", dir, rmErr)
		}
		return nil
	}, nil
}
