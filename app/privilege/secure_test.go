//go:build unix

package privilege

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// logger returns a logger and what it wrote.
func logger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestSecureDir: the data directory is the owner's alone; readable is tightened with a warning,
// writable by others is refused, and the secrets in it get SecureFile.
func TestSecureDir(t *testing.T) {
	t.Parallel()
	cases := []struct {
		Name     string
		Mode     os.FileMode
		Want     os.FileMode // the mode after
		Refused  string      // in the error; "" when accepted
		Warned   bool
		Contents map[string]os.FileMode // files to create in it, and the mode they must have after
	}{
		{Name: "0700 is kept", Mode: 0o700, Want: 0o700},
		{Name: "0755 is tightened", Mode: 0o755, Want: 0o700, Warned: true},
		{Name: "0750 is tightened", Mode: 0o750, Want: 0o700, Warned: true},
		{Name: "0555 loses only others' bits", Mode: 0o555, Want: 0o500, Warned: true},
		{Name: "0777 is refused", Mode: 0o777, Want: 0o777, Refused: "is writable by other users (mode 0777): check that its contents are yours, then run 'chmod 700 "},
		{Name: "0770 is refused", Mode: 0o770, Want: 0o770, Refused: "run 'chmod 700 "},
		{Name: "secrets are tightened, other files kept", Mode: 0o700, Want: 0o700, Warned: true,
			Contents: map[string]os.FileMode{"jwt-secret": 0o600, "postgres.secret": 0o600, "postgres.log": 0o644, "other.secret": 0o400}},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			for name := range tc.Contents {
				m := os.FileMode(0o644)
				if name == "other.secret" {
					m = 0o440
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte("s"), m); err != nil {
					t.Fatal(err)
				}
			}
			os.Chmod(dir, tc.Mode)
			defer os.Chmod(dir, 0o700) // so the test's cleanup can remove it
			log, out := logger()
			err := SecureDir(dir, log)
			if tc.Refused == "" && err != nil {
				t.Fatal(err)
			}
			if tc.Refused != "" && (err == nil || !strings.HasPrefix(err.Error(), "data directory "+dir+" ") || !strings.Contains(err.Error(), tc.Refused+dir+"'")) {
				t.Fatalf("got %v, want a refusal with %q", err, tc.Refused)
			}
			if got := mode(t, dir); got != tc.Want {
				t.Errorf("mode %04o, want %04o", got, tc.Want)
			}
			if warned := strings.Contains(out.String(), "level=WARN"); warned != tc.Warned {
				t.Errorf("warned %v, want %v: %s", warned, tc.Warned, out)
			}
			for name, want := range tc.Contents {
				if got := mode(t, filepath.Join(dir, name)); got != want {
					t.Errorf("%s: mode %04o, want %04o", name, got, want)
				}
			}
		})
	}
}

// TestSecureDirRefusesASecretWritableByOthers: the data directory check includes its secrets.
func TestSecureDirRefusesASecretWritableByOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "postgres.secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	os.Chmod(secret, 0o666)
	log, _ := logger()
	if err := SecureDir(dir, log); err == nil || !strings.Contains(err.Error(), "run 'chmod 600 "+secret+"'") {
		t.Fatalf("got %v", err)
	}
	if m := mode(t, secret); m != 0o666 {
		t.Errorf("a refused file was changed: %04o", m)
	}
}

// TestSecureDirOwners: as root, an entry (not a symlink) belonging to another user is refused
// with the chown command; a symlink is not looked through.
func TestSecureDirOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	t.Parallel()
	pg := lookup(t, "postgres")
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "theirs")
	os.WriteFile(outside, []byte("x"), 0o644)
	os.Chown(outside, pg, -1)
	os.Symlink(outside, filepath.Join(dir, "link"))
	log, _ := logger()
	if err := SecureDir(dir, log); err != nil {
		t.Fatalf("a symlink to another user's file: %v", err)
	}
	if m := mode(t, outside); m != 0o644 {
		t.Errorf("the symlink's target was changed: %04o", m)
	}
	os.WriteFile(filepath.Join(dir, "cluster"), nil, 0o600)
	os.Chown(filepath.Join(dir, "cluster"), pg, -1)
	want := "data directory " + dir + " holds cluster, which belongs to postgres, not to root, who runs the server: run 'chown -R root: " + dir + "'"
	if err := SecureDir(dir, log); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	os.Chown(dir, pg, -1)
	want = "data directory " + dir + " belongs to postgres, not to root"
	if err := SecureDir(dir, log); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// TestSecureFile: 0644 → 0600 with a warning, 0666 refused and left alone, a missing file is
// fine, a symlink is never changed.
func TestSecureFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		Name    string
		Mode    os.FileMode
		Want    os.FileMode
		Refused bool
		Warned  bool
	}{
		{Name: "0600 kept", Mode: 0o600, Want: 0o600},
		{Name: "0400 kept", Mode: 0o400, Want: 0o400},
		{Name: "0644 tightened", Mode: 0o644, Want: 0o600, Warned: true},
		{Name: "0640 tightened", Mode: 0o640, Want: 0o600, Warned: true},
		{Name: "0666 refused", Mode: 0o666, Want: 0o666, Refused: true},
		{Name: "0620 refused", Mode: 0o620, Want: 0o620, Refused: true},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jwt-secret")
			os.WriteFile(path, []byte("s"), 0o600)
			os.Chmod(path, tc.Mode)
			log, out := logger()
			err := SecureFile(path, log)
			if refused := err != nil; refused != tc.Refused {
				t.Fatalf("error %v, want refused %v", err, tc.Refused)
			}
			if err != nil && err.Error() != "the secret file "+path+" is writable by other users (mode "+fmt.Sprintf("%04o", tc.Mode)+"), so it may have been replaced: check it, then run 'chmod 600 "+path+"'" {
				t.Errorf("sentence: %v", err)
			}
			if got := mode(t, path); got != tc.Want {
				t.Errorf("mode %04o, want %04o", got, tc.Want)
			}
			if warned := strings.Contains(out.String(), "level=WARN"); warned != tc.Warned {
				t.Errorf("warned %v, want %v: %s", warned, tc.Warned, out)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		log, _ := logger()
		if err := SecureFile(filepath.Join(t.TempDir(), "none.secret"), log); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "target")
		os.WriteFile(target, []byte("s"), 0o644)
		link := filepath.Join(dir, "jwt-secret")
		os.Symlink(target, link)
		log, out := logger()
		if err := SecureFile(link, log); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, target); m != 0o644 {
			t.Errorf("changed through the symlink: %04o", m)
		}
		if !strings.Contains(out.String(), "chmod 600 its target") {
			t.Errorf("no warning: %s", out)
		}
		os.Chmod(target, 0o666)
		if err := SecureFile(link, log); err == nil || !strings.Contains(err.Error(), "run 'chmod 600 "+target+"'") {
			t.Errorf("a world-writable target: %v", err)
		}
	})
}
