//go:build unix

package privilege

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// As root the drop is tested in a child process (it cannot be undone in this one).
const childEnv = "HEALTHCARE_PRIVILEGE_TEST_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		user, dir, _ := strings.Cut(v, ":")
		name, dropped, err := DropIfRoot(user, dir)
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error())
			os.Exit(0)
		}
		f, ferr := os.Create(filepath.Join(dir, "after-drop"))
		if ferr == nil {
			f.Close()
		}
		os.Stdout.WriteString(strings.Join([]string{name, boolStr(dropped), itoa(os.Geteuid()), itoa(os.Getegid()), os.Getenv("HOME"), os.Getenv("USER"), errStr(ferr)}, "|"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
func itoa(i int) string { return strconv.Itoa(i) }
func errStr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func child(t *testing.T, user, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+user+":"+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

func TestDropIfRootNotRootIsNoop(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as root")
	}
	name, dropped, err := DropIfRoot("postgres", t.TempDir())
	if err != nil || dropped || name == "" {
		t.Fatalf("got %q %v %v", name, dropped, err)
	}
}

func TestDropIfRootAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755) // the per-test parent testing creates is 0700
	dir := filepath.Join(base, "data", "nested")
	out := child(t, "postgres", dir)
	parts := strings.Split(out, "|")
	if len(parts) != 7 || parts[0] != "postgres" || parts[1] != "true" || parts[2] == "0" || parts[5] != "postgres" || parts[6] != "ok" {
		t.Fatalf("child after drop: %q", out)
	}
	// What was missing is the user's, mode 0700; the existing parent is left as it was.
	pg := lookup(t, "postgres")
	for _, d := range []string{filepath.Join(base, "data"), dir} {
		if uid, mode := ownerMode(t, d); uid != pg || mode != os.ModeDir|0o700 {
			t.Errorf("%s: owner %d mode %v, want %d drwx------", d, uid, mode, pg)
		}
	}
	if uid, mode := ownerMode(t, base); uid != 0 || mode != os.ModeDir|0o755 {
		t.Errorf("the existing parent changed: owner %d mode %v", uid, mode)
	}

	// A parent the user cannot enter: clear one-sentence error.
	locked := filepath.Join(base, "locked")
	os.Mkdir(locked, 0o700)
	out = child(t, "postgres", filepath.Join(locked, "data"))
	if !strings.Contains(out, "is not writable by user postgres") {
		t.Fatalf("unreachable dir: %q", out)
	}

	out = child(t, "no-such-user-xyz", filepath.Join(base, "other"))
	if !strings.Contains(out, "set embedded.run_as to an existing unprivileged user") ||
		!strings.Contains(out, "'useradd --system --user-group --no-create-home --shell /usr/sbin/nologin no-such-user-xyz'") {
		t.Fatalf("missing user: %q", out)
	}
	out = child(t, "root", filepath.Join(base, "other"))
	if !strings.Contains(out, "embedded.run_as") {
		t.Fatalf("root as run_as: %q", out)
	}
}

// TestDropIfRootNeverChowns: an existing directory is never handed over, nor anything in it, nor
// what a symlink in it points to; one that belongs to another user is refused with the command to
// run.
func TestDropIfRootNeverChowns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	pg := lookup(t, "postgres")
	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755)
	outside := filepath.Join(base, "root-only")
	if err := os.WriteFile(outside, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("owned by root", func(t *testing.T) {
		dir := filepath.Join(base, "roots")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
		os.Symlink(outside, filepath.Join(dir, "link"))
		before := digest(t, dir) + digest(t, outside)
		out := child(t, "postgres", dir)
		want := "error: data directory " + dir + " belongs to root, not to postgres, who runs the server: run 'chown -R postgres: " + dir + "' (check it is the right directory), or set data_dir"
		if out != want {
			t.Errorf("got  %q\nwant %q", out, want)
		}
		if after := digest(t, dir) + digest(t, outside); after != before {
			t.Errorf("changed:\n%s\nwas:\n%s", after, before)
		}
	})

	t.Run("owned by the user", func(t *testing.T) {
		dir := filepath.Join(base, "theirs")
		os.Mkdir(dir, 0o700)
		os.Chown(dir, pg, -1)
		os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "sub", "file"), []byte("x"), 0o644)
		os.Symlink(outside, filepath.Join(dir, "link"))
		os.Symlink(base, filepath.Join(dir, "dirlink"))
		out := child(t, "postgres", dir)
		if !strings.HasPrefix(out, "postgres|true|") {
			t.Fatalf("child: %q", out)
		}
		os.Remove(filepath.Join(dir, "after-drop"))
		for _, p := range []string{outside, filepath.Join(dir, "sub"), filepath.Join(dir, "sub", "file"), filepath.Join(dir, "link")} {
			if uid, _ := ownerMode(t, p); uid != 0 {
				t.Errorf("%s was handed to uid %d", p, uid)
			}
		}
	})
}

func lookup(t *testing.T, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	return uid
}

// ownerMode is path's owner and mode, without following a symlink.
func ownerMode(t *testing.T, path string) (int, os.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid), st.Mode()
}

// digest lists every path under root with its owner, group and mode, without following symlinks.
func digest(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %d:%d %v\n", p, st.Uid, st.Gid, info.Mode())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := CheckWritable(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("CheckWritable left a file behind")
	}
	err := CheckWritable(filepath.Join(dir, "missing"))
	if err == nil || !strings.HasPrefix(err.Error(), "data directory "+filepath.Join(dir, "missing")+" is not writable by user ") {
		t.Fatalf("got %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		if err := CheckWritable(ro); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("read-only: %v", err)
		}
	}
}
