//go:build unix

package cli_test

import (
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// serverIDs are the uid and gid the binary runs as: postgres when the tests are root (the binary
// switches to it), else the tests' own.
func serverIDs(t *testing.T) (int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid()
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal("the user postgres is needed (apt install postgresql creates it)")
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	return uid, gid
}

// giveToServer hands path and everything under it to the user the binary runs as, as an operator
// would before starting it (the binary never does that to an existing tree).
func giveToServer(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, gid := serverIDs(t)
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ownerMode is path's owner and mode, without following a symlink.
func ownerMode(t *testing.T, path string) (int, fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid), st.Mode()
}

// TestRootDataDirOwnedByRoot: started as root on a data directory that belongs to root, the binary
// changes nothing (no recursive chown, no chmod) and says which command to run.
func TestRootDataDirOwnedByRoot(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	base := tempDir(t)
	outside := filepath.Join(base, "root-only")
	if err := os.WriteFile(outside, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dataDir, 0o755)
	if err := os.WriteFile(filepath.Join(dataDir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dataDir, "link")); err != nil {
		t.Fatal(err)
	}
	before := treeDigest(t, base)
	code, out := run(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
	checkSentence(t, code, 2, out, "data directory "+dataDir+" belongs to root, not to postgres, who runs the server: run 'chown -R postgres: "+dataDir+"' (check it is the right directory), or set data_dir")
	if after := treeDigest(t, base); after != before {
		t.Errorf("the refused directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRootSymlinkInDataDir: a symlink in the data directory to root's files gives nothing away at
// start.
func TestRootSymlinkInDataDir(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	base := tempDir(t)
	rootFile := filepath.Join(base, "root-file")
	rootDir := filepath.Join(base, "root-dir")
	if err := os.WriteFile(rootFile, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rootDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootDir, "inside"), []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	giveToServer(t, dataDir)
	for name, target := range map[string]string{"file-link": rootFile, "dir-link": rootDir, "jwt-secret-link": rootFile} {
		if err := os.Symlink(target, filepath.Join(dataDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	before := treeDigest(t, rootDir) + treeDigest(t, rootFile)
	p, _ := serve(t, opts{DataDir: dataDir})
	stopAndCheck(t, p)
	if after := treeDigest(t, rootDir) + treeDigest(t, rootFile); after != before {
		t.Errorf("root's files changed through a symlink in the data directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRootPrivilegedPort: root can serve a port below 1024: the listener is opened before the
// privilege drop, and the process then runs as postgres.
func TestRootPrivilegedPort(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	uid, _ := serverIDs(t)
	dataDir := filepath.Join(tempDir(t), "data")
	var p *proc
	for port := 81; port < 100 && p == nil; port++ {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		c := launch(t, opts{DataDir: dataDir, Addr: addr}, "serve")
		if c.exitedWith("the port is already in use") {
			continue
		}
		p = c
	}
	if p == nil {
		t.Skip("no free port in 81..99")
	}
	p.waitReady()
	if status, _, body := p.request("GET", "/healthz", nil); status != 200 {
		t.Errorf("/healthz: %d %s", status, body)
	}
	app, ok := readProc(p.cmd.Process.Pid)
	if !ok {
		t.Fatal("the app's /proc entry is gone")
	}
	for _, id := range app.UIDs {
		if id != uid {
			t.Errorf("the app runs with uids %v, want all %d (postgres)", app.UIDs, uid)
			break
		}
	}
	stopAndCheck(t, p)
}

// TestDataDirPermissions: a data directory or secret readable by others is restricted to its
// owner at start, with a warning; one writable by others is refused, unchanged, with the chmod to
// run.
func TestDataDirPermissions(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("5e", 32) + "\n"
	// dataDir makes a data directory of the given mode holding a jwt-secret of the given mode.
	dataDir := func(t *testing.T, dirMode, secretMode fs.FileMode) string {
		dir := filepath.Join(tempDir(t), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "jwt-secret"), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, "jwt-secret"), secretMode)
		os.Chmod(dir, dirMode)
		giveToServer(t, dir)
		return dir
	}

	t.Run("readable by others is tightened", func(t *testing.T) {
		t.Parallel()
		dir := dataDir(t, 0o755, 0o644)
		p, _ := serve(t, opts{DataDir: dir})
		if _, m := ownerMode(t, dir); m != fs.ModeDir|0o700 {
			t.Errorf("data directory mode %v, want drwx------", m)
		}
		if _, m := ownerMode(t, filepath.Join(dir, "jwt-secret")); m != 0o600 {
			t.Errorf("jwt-secret mode %v, want -rw-------", m)
		}
		for _, want := range []string{
			`"level":"WARN","msg":"the data directory was readable by other users: restricted it to its owner","path":"` + dir + `","was":"0755","now":"0700"`,
			`"level":"WARN","msg":"the secret file was readable by other users: restricted it to its owner; replace the secret if someone may have read it","path":"` + filepath.Join(dir, "jwt-secret") + `","was":"0644","now":"0600"`,
		} {
			if !strings.Contains(p.out.String(), want) {
				t.Errorf("the log lacks %s", want)
			}
		}
		stopAndCheck(t, p)
	})

	refused := []struct {
		Name                string
		DirMode, SecretMode fs.FileMode
		Want                func(dir string) string
	}{
		{"directory writable by others", 0o777, 0o600, func(dir string) string {
			return "data directory " + dir + " is writable by other users (mode 0777): check that its contents are yours, then run 'chmod 700 " + dir + "'"
		}},
		{"secret writable by others", 0o700, 0o666, func(dir string) string {
			s := filepath.Join(dir, "jwt-secret")
			return "the secret file " + s + " is writable by other users (mode 0666), so it may have been replaced: check it, then run 'chmod 600 " + s + "'"
		}},
	}
	for _, tc := range refused {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			dir := dataDir(t, tc.DirMode, tc.SecretMode)
			before := treeDigest(t, dir)
			code, out := run(t, opts{DataDir: dir, Port: freePort(t)}, "serve")
			checkSentence(t, code, 2, out, tc.Want(dir))
			if after := treeDigest(t, dir); after != before {
				t.Errorf("the refused directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
