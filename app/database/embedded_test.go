//go:build unix

package database_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcare/app/database"
)

// The data directory is sacred: these tests damage, share and kill it the ways an operator (or a
// reboot, or a full disk) would, against real PostgreSQL processes.

func TestDamagedPGVersionIsRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(string) error{
		"deleted": os.Remove,
		"garbled": func(p string) error { return os.WriteFile(p, []byte("fifteen\n"), 0o600) },
		"empty":   func(p string) error { return os.WriteFile(p, nil, 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := embeddedConfig(t.TempDir())
			db, _ := open(t, cfg)
			insertUser(t, db, "bob")
			db.Close()
			cluster := filepath.Join(cfg.DataDir, "postgres")
			pgVersion := filepath.Join(cluster, "PG_VERSION")
			good, _ := os.ReadFile(pgVersion)
			if err := damage(pgVersion); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, cfg.DataDir)
			_, err := database.Open(context.Background(), cfg, nil)
			if err == nil {
				t.Fatal("Open accepted a cluster whose PG_VERSION is " + name)
			}
			if !strings.Contains(err.Error(), "PG_VERSION") || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("unhelpful error: %v", err)
			}
			if after := snapshot(t, cfg.DataDir); after != before {
				t.Fatal("the refused data directory was modified")
			}
			os.WriteFile(pgVersion, good, 0o600)
			db2, _ := open(t, cfg)
			if !hasUser(t, db2, "bob") {
				t.Fatal("data lost")
			}
		})
	}
}

func TestNotADirectoryIsRefused(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	os.WriteFile(filepath.Join(cfg.DataDir, "postgres"), []byte("precious"), 0o600)
	if _, err := database.Open(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.DataDir, "postgres")); string(b) != "precious" {
		t.Fatal("the file was changed")
	}
}

func TestInterruptedFirstStartIsFinished(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	// What an interrupted initdb leaves: its scratch directory, half written, and no cluster.
	scratch := filepath.Join(cfg.DataDir, "postgres.initdb")
	os.MkdirAll(filepath.Join(scratch, "base"), 0o700)
	os.WriteFile(filepath.Join(scratch, "PG_VERSION"), []byte("15\n"), 0o600)
	db, _ := open(t, cfg)
	insertUser(t, db, "carol")
	if _, err := os.Stat(scratch); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the scratch directory is still there")
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "postgres", "healthcare-first-boot-complete")); err != nil {
		t.Fatal("first boot marker missing")
	}
}

func TestMissingPasswordFileIsRefused(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	db.Close()
	os.Rename(filepath.Join(cfg.DataDir, "postgres.secret"), filepath.Join(cfg.DataDir, "moved"))
	before := snapshot(t, cfg.DataDir)
	_, err := database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "postgres.secret") {
		t.Fatalf("err = %v", err)
	}
	if snapshot(t, cfg.DataDir) != before {
		t.Fatal("the data directory was modified (a new password was written?)")
	}
}

func TestSecondServerInOneProcessIsRefused(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	_, err := database.Open(context.Background(), cfg, nil)
	if !errors.Is(err, database.ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("the first server was disturbed: %v", err)
	}
}

func TestLockNamesItsOwner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := database.LockDataDir(dir, "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	l.SetPort(5555)
	info, held, err := database.Owner(dir)
	if err != nil || !held || info.PID != os.Getpid() || info.Port != 5555 || info.Command != "serve" {
		t.Fatalf("Owner = %+v %v %v", info, held, err)
	}
	// Another process holding it: flock(1) from util-linux, on the same file.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) is not installed (util-linux)")
	}
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, database.LockFileName), []byte(`{"pid":1234,"command":"serve"}`), 0o600)
	cmd := exec.Command("flock", "-x", filepath.Join(dir2, database.LockFileName), "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; ; i++ {
		if _, held, _ := database.Owner(dir2); held {
			break
		}
		if i > 100 {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = database.LockDataDir(dir2, "migrate")
	if !errors.Is(err, database.ErrLocked) || !strings.Contains(err.Error(), "pid 1234") || !strings.Contains(err.Error(), "stop that process first") {
		t.Fatalf("err = %v", err)
	}
}

// pgCtl runs pg_ctl of the binaries the server used.
func pgCtl(t *testing.T, db *database.DB, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(db.Info.BinDir, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return strings.Contains(string(st), ") Z") // a zombie until init reaps it
}

func TestOrphanOfThisClusterIsStoppedAndDataKept(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "erin")
	info := db.Info
	db.Close()
	// A server left running on this cluster, as after a SIGKILL of an earlier run.
	cluster := filepath.Join(cfg.DataDir, "postgres")
	port := freeTCPPort(t)
	pgCtl(t, db, "start", "-w", "-D", cluster, "-l", filepath.Join(t.TempDir(), "orphan.log"),
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", port))
	pid := postmasterPID(t, cluster)
	t.Cleanup(func() {
		if !gone(pid) {
			exec.Command(filepath.Join(info.BinDir, "pg_ctl"), "stop", "-m", "immediate", "-D", cluster).Run()
		}
	})
	db2, _ := open(t, cfg)
	if !gone(pid) {
		t.Fatalf("orphan pid %d still running", pid)
	}
	if !hasUser(t, db2, "erin") {
		t.Fatal("data lost")
	}
}

func TestLiveUnrelatedPostgresIsLeftAlone(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "frank")
	db.Close()
	// Another PostgreSQL of the same user, whose pid our stale postmaster.pid names (after a
	// reboot, pids are handed out again).
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command(filepath.Join(db.Info.BinDir, "initdb"), "-D", other, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freeTCPPort(t)
	pgCtl(t, db, "start", "-w", "-D", other, "-l", filepath.Join(t.TempDir(), "other.log"),
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", port))
	t.Cleanup(func() {
		exec.Command(filepath.Join(db.Info.BinDir, "pg_ctl"), "stop", "-m", "immediate", "-D", other).Run()
	})
	otherPID := postmasterPID(t, other)
	cluster := filepath.Join(cfg.DataDir, "postgres")
	stale := fmt.Sprintf("%d\n%s\n1700000000\n%d\n\n127.0.0.1\n", otherPID, cluster, port)
	if err := os.WriteFile(filepath.Join(cluster, "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	db2, _ := open(t, cfg)
	if !hasUser(t, db2, "frank") {
		t.Fatal("data lost")
	}
	if gone(otherPID) {
		t.Fatal("the unrelated PostgreSQL server was stopped")
	}
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err != nil {
		t.Fatalf("the unrelated server stopped answering: %v", err)
	}
	conn.Close(context.Background())
}

// waitUp waits until the pool answers again.
func waitUp(t *testing.T, db *database.DB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not come back within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDeadPostgresIsRestarted(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "gina")
	cluster := filepath.Join(cfg.DataDir, "postgres")

	// Killed (crash recovery at restart), then stopped from outside with pg_ctl.
	pid := postmasterPID(t, cluster)
	syscall.Kill(pid, syscall.SIGKILL)
	pid = waitRestarted(t, db, cluster, pid)
	insertUser(t, db, "hugo")
	pgCtl(t, db, "stop", "-m", "fast", "-D", cluster)
	waitRestarted(t, db, cluster, pid)
	if !hasUser(t, db, "gina") || !hasUser(t, db, "hugo") {
		t.Fatal("data lost")
	}
	if !strings.Contains(logTailOf(cfg.DataDir), "ready to accept connections") {
		t.Fatal("PostgreSQL's log does not show the restart")
	}
	select {
	case <-db.Failed():
		t.Fatalf("supervision gave up: %v", db.FailErr())
	default:
	}
}

// waitRestarted waits until a postmaster other than old serves the cluster and the pool answers.
func waitRestarted(t *testing.T, db *database.DB, cluster string, old int) int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
		var pid int
		fmt.Sscanf(string(b), "%d", &pid)
		if pid != 0 && pid != old {
			waitUp(t, db, 90*time.Second)
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("PostgreSQL was not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTailOf is all of PostgreSQL's logs in dataDir: postgres.log (start-up output) and the
// collector's postgres-<time>.log files.
func logTailOf(dataDir string) string {
	files, _ := filepath.Glob(filepath.Join(dataDir, "postgres-*.log"))
	var all strings.Builder
	for _, f := range append([]string{filepath.Join(dataDir, "postgres.log")}, files...) {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	return all.String()
}

func TestSupervisionGivesUpWhenPostgresCannotStart(t *testing.T) {
	// Not parallel: it changes the package's restart policy.
	defer database.SetRestartPolicy([]time.Duration{10 * time.Millisecond, 10 * time.Millisecond}, 5)()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	cluster := filepath.Join(cfg.DataDir, "postgres")
	// PostgreSQL refuses a data directory others may read: every restart fails.
	os.Chmod(cluster, 0o755)
	defer os.Chmod(cluster, 0o700)
	syscall.Kill(postmasterPID(t, cluster), syscall.SIGKILL)
	select {
	case <-db.Failed():
	case <-time.After(60 * time.Second):
		t.Fatal("supervision never gave up")
	}
	if err := db.FailErr(); err == nil || !strings.Contains(err.Error(), "could not be restarted") {
		t.Fatalf("FailErr = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close after PostgreSQL died: %v", err)
	}
}

func TestStopIsBoundedAndDeadIsNotAnError(t *testing.T) {
	t.Parallel()
	t.Run("dead", func(t *testing.T) {
		t.Parallel()
		cfg := embeddedConfig(t.TempDir())
		db, _ := open(t, cfg)
		cluster := filepath.Join(cfg.DataDir, "postgres")
		syscall.Kill(postmasterPID(t, cluster), syscall.SIGKILL)
		if err := db.CloseWithin(5 * time.Second); err != nil {
			t.Fatalf("stop of a dead server: %v", err)
		}
	})
	t.Run("hung", func(t *testing.T) {
		t.Parallel()
		cfg := embeddedConfig(t.TempDir())
		db, _ := open(t, cfg)
		cluster := filepath.Join(cfg.DataDir, "postgres")
		pid := postmasterPID(t, cluster)
		db.Pool.Close()
		syscall.Kill(pid, syscall.SIGSTOP) // hung: ignores fast and immediate shutdown
		start := time.Now()
		err := db.CloseWithin(2 * time.Second)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("stop of a hung server: %v", err)
		}
		// Bounded, not timed: a stop that waited for the hung server would never return.
		if took > 30*time.Second {
			t.Fatalf("stop took %v with a 2s budget", took)
		}
		if !gone(pid) {
			t.Fatal("the hung postmaster is still there")
		}
		// The cluster starts again (crash recovery).
		db2, _ := open(t, cfg)
		if err := db2.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestApplicationRoleAndSCRAM(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	ctx := context.Background()
	var user string
	var super, createdb bool
	if err := db.Pool.QueryRow(ctx, "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user").Scan(&user, &super, &createdb); err != nil {
		t.Fatal(err)
	}
	if user != database.AppRole || super || createdb {
		t.Fatalf("the application connects as %q (superuser %v, createdb %v)", user, super, createdb)
	}
	// pg_trgm is trusted: the application role, owner of the database, created it (migration 0005).
	var trgm string
	if err := db.Pool.QueryRow(ctx, "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&trgm); err != nil || trgm != "extensions" {
		t.Fatalf("pg_trgm in schema %q (%v), want extensions", trgm, err)
	}
	if !database.SearchIndexed(ctx, db.Pool) {
		t.Fatal("the search indexes are missing")
	}
	var owner string
	db.Pool.QueryRow(ctx, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'patients'").Scan(&owner)
	if owner != database.AppRole {
		t.Fatalf("patients is owned by %q", owner)
	}
	// Maintenance: the superuser sees how the server authenticates.
	admin, err := pgx.Connect(ctx, db.Embedded().URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rows, _ := admin.Query(ctx, "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE error IS NULL")
	methods, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(methods) != 1 || methods[0] != "scram-sha-256" {
		t.Fatalf("authentication methods %v (%v), want only scram-sha-256", methods, err)
	}
	rows, _ = admin.Query(ctx, "SELECT rolname FROM pg_authid WHERE rolcanlogin AND rolpassword NOT LIKE 'SCRAM-SHA-256$%'")
	weak, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	if len(weak) > 0 {
		t.Fatalf("roles without a SCRAM verifier: %v", weak)
	}
	// A wrong password is refused.
	bad := strings.Replace(db.Embedded().URL("postgres"), ":"+strings.TrimSpace(mustPassword(t, cfg.DataDir))+"@", ":wrong@", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong superuser password was accepted")
	}
	// The application's pool goes through the Unix socket in the data directory (no server
	// address), which only this user can open, and which asks for the password too.
	var tcp bool
	if err := db.Pool.QueryRow(ctx, "SELECT inet_server_addr() IS NOT NULL").Scan(&tcp); err != nil || tcp {
		t.Errorf("the application's pool uses TCP (%v), not the Unix socket", err)
	}
	sockets, _ := filepath.Glob(filepath.Join(cfg.DataDir, "pg-runtime", ".s.PGSQL.*"))
	if len(sockets) == 0 {
		t.Fatal("no socket in pg-runtime")
	}
	if fi, err := os.Stat(sockets[0]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket %s: %v %v, want mode 0700", sockets[0], fi.Mode(), err)
	}
	u, _ := url.Parse(db.Embedded().AppURL())
	u.User = url.UserPassword(database.AppRole, "wrong")
	if c, err := pgx.Connect(ctx, u.String()); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted on the Unix socket")
	} else if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("a wrong password on the socket: %v, want a password authentication failure", err)
	}
	// A cluster made by an older version had the superuser own the tables: they are handed over.
	if _, err := admin.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	appdb, err := pgx.Connect(ctx, db.Embedded().URL("healthcare"))
	if err != nil {
		t.Fatal(err)
	}
	appdb.Exec(ctx, "CREATE TABLE legacy (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)")
	appdb.Exec(ctx, "ALTER TABLE patients OWNER TO postgres")
	appdb.Close(ctx)
	admin.Close(ctx)
	db.Close()
	db2, _ := open(t, cfg)
	for _, table := range []string{"legacy", "patients"} {
		if _, err := db2.Pool.Exec(ctx, "ALTER TABLE "+table+" ADD COLUMN probe int"); err != nil {
			t.Fatalf("the application role cannot change %s: %v", table, err)
		}
	}
}

func TestStartErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	db.Close()
	// The fixed port is taken by another program.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.Embedded.Port = l.Addr().(*net.TCPAddr).Port
	_, err = database.Open(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("started on a taken port")
	}
	for _, want := range []string{"did not start", filepath.Join(cfg.DataDir, "postgres-"), ".log ends with", "could not", "start again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestMovedDataDirWithLiveOrphan: the app was SIGKILLed (its postmaster kept running) and the
// operator then moved the data directory. The orphan's postmaster.pid names the old path, but the
// orphan serves this very cluster (its working directory is it): its postmaster.pid must not be
// removed as "stale" and no second postmaster may be started on the cluster. The start is refused
// in a sentence naming the pid, and nothing is changed.
func TestMovedDataDirWithLiveOrphan(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	cfg := embeddedConfig(filepath.Join(base, "old"))
	db, _ := open(t, cfg)
	insertUser(t, db, "ivan")
	info := db.Info
	db.Close()
	cluster := filepath.Join(cfg.DataDir, "postgres")
	port := freeTCPPort(t)
	pgCtl(t, db, "start", "-w", "-D", cluster, "-l", filepath.Join(t.TempDir(), "orphan.log"),
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", port))
	pid := postmasterPID(t, cluster)
	moved := filepath.Join(base, "new")
	if err := os.Rename(cfg.DataDir, moved); err != nil {
		t.Fatal(err)
	}
	cluster = filepath.Join(moved, "postgres")
	t.Cleanup(func() {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGQUIT)
		}
	})
	cfg.DataDir = moved
	before := snapshot(t, moved)
	_, err := database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(pid)) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("start next to a live postmaster of the same cluster: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cluster, "postmaster.pid")); err != nil {
		t.Fatalf("the live postmaster's postmaster.pid was removed: %v", err)
	}
	if snapshot(t, moved) != before {
		t.Fatal("the refused data directory was modified")
	}
	if gone(pid) {
		t.Fatal("the orphan was signalled although its postmaster.pid names another directory")
	}
	// Once the operator stops it, the cluster starts with its data.
	exec.Command(filepath.Join(info.BinDir, "pg_ctl"), "stop", "-m", "fast", "-D", cluster).Run()
	db2, _ := open(t, cfg)
	if !hasUser(t, db2, "ivan") {
		t.Fatal("data lost")
	}
}

// TestDamagedPostmasterPIDIsReplaced: an empty or garbled postmaster.pid (what a crash of the
// machine can leave) with no PostgreSQL running on the cluster does not keep the appliance down:
// PostgreSQL itself refuses such a file ("lock file is empty", "bogus data"), so it is removed and
// the cluster starts with its data.
func TestDamagedPostmasterPIDIsReplaced(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{"empty": "", "garbled": "abc\n", "zero": "0\n"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := embeddedConfig(t.TempDir())
			db, _ := open(t, cfg)
			insertUser(t, db, "judy")
			db.Close()
			pidFile := filepath.Join(cfg.DataDir, "postgres", "postmaster.pid")
			if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			db2, _ := open(t, cfg)
			if !hasUser(t, db2, "judy") {
				t.Fatal("data lost")
			}
		})
	}
}

// TestWrongSuperuserPasswordIsNamed: a postgres.secret that does not match the cluster (edited, or
// copied from another data directory) is refused at once with a sentence naming the file, not
// after a minute of failed logins as "did not accept connections"; the file is not rewritten.
func TestWrongSuperuserPasswordIsNamed(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	db.Close()
	secret := filepath.Join(cfg.DataDir, "postgres.secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := database.Open(context.Background(), cfg, nil)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if err == nil || !strings.Contains(err.Error(), "postgres.secret") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "0123456789abcdef\n" {
		t.Fatal("postgres.secret was rewritten")
	}
}

func TestDamagedAppPasswordFileIsReplaced(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "quinn")
	db.Close()
	os.WriteFile(filepath.Join(cfg.DataDir, "postgres-app.secret"), []byte("\n"), 0o600)
	db2, _ := open(t, cfg)
	if !hasUser(t, db2, "quinn") {
		t.Fatal("data lost")
	}
}

// TestNoSocketFallsBackToTCP: where PostgreSQL cannot create its Unix socket in the data
// directory (here a directory sits where the socket goes, as a filesystem without sockets would
// refuse it), the server starts anyway, over TCP only, as before sockets were used.
func TestNoSocketFallsBackToTCP(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Embedded.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	blocker := filepath.Join(cfg.DataDir, "pg-runtime", fmt.Sprintf(".s.PGSQL.%d", cfg.Embedded.Port), "x")
	if err := os.MkdirAll(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	db, _ := open(t, cfg)
	var tcp bool
	if err := db.Pool.QueryRow(context.Background(), "SELECT inet_server_addr() IS NOT NULL").Scan(&tcp); err != nil || !tcp {
		t.Fatalf("the application's pool: TCP %v (%v), want TCP after the socket could not be made", tcp, err)
	}
}
