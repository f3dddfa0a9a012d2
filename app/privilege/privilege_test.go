package privilege

import (
	"os"
	"os/exec"
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
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sys().(*syscall.Stat_t).Uid == 0 {
		t.Fatal("directory not handed to the user")
	}

	// A parent the user cannot enter: clear one-sentence error.
	locked := filepath.Join(base, "locked")
	os.Mkdir(locked, 0o700)
	out = child(t, "postgres", filepath.Join(locked, "data"))
	if !strings.Contains(out, "is not writable by user postgres") {
		t.Fatalf("unreachable dir: %q", out)
	}

	out = child(t, "no-such-user-xyz", filepath.Join(base, "other"))
	if !strings.Contains(out, "set embedded.run_as to an existing unprivileged user") {
		t.Fatalf("missing user: %q", out)
	}
	out = child(t, "root", filepath.Join(base, "other"))
	if !strings.Contains(out, "embedded.run_as") {
		t.Fatalf("root as run_as: %q", out)
	}
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
