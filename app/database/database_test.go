//go:build unix

package database_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/database/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func embeddedConfig(dataDir string) *config.Config {
	return &config.Config{
		DataDir:  dataDir,
		Database: config.Database{MaxConns: 4, QueryTimeout: 10 * time.Second},
		Embedded: config.Embedded{DownloadVersion: "16", RunAs: "postgres", Database: "healthcare"},
	}
}

func open(t *testing.T, cfg *config.Config) (*database.DB, time.Duration) {
	t.Helper()
	start := time.Now()
	db, err := database.Open(context.Background(), cfg, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, took
}

func insertUser(t *testing.T, db *database.DB, name string) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(),
		"INSERT INTO users (username, email, password_hash) VALUES ($1, $1 || '@example.org', 'x')", name); err != nil {
		t.Fatal(err)
	}
}

func hasUser(t *testing.T, db *database.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE username = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestColdThenWarmStartKeepsData(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, cold := open(t, cfg)
	info := db.Info
	if info.Mode != "embedded" || info.Port == 0 || info.BinDir == "" || info.BinariesSource == "" || info.Version == "" {
		t.Fatalf("incomplete info: %+v", info)
	}
	if strings.Contains(info.URL, mustPassword(t, cfg.DataDir)) {
		t.Fatalf("Info.URL shows the password: %s", info.URL)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	insertUser(t, db, "alice")
	stopStart := time.Now()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	stop := time.Since(stopStart)
	if err := db.Close(); err != nil { // idempotent
		t.Fatal(err)
	}

	db2, warm := open(t, cfg)
	if !hasUser(t, db2, "alice") {
		t.Fatal("row written before the restart is gone")
	}
	fmt.Printf("embedded PostgreSQL %s (%s via %s): cold start %v, stop %v, warm start %v\n",
		info.Version, info.BinDir, info.BinariesSource, cold.Round(time.Millisecond), stop.Round(time.Millisecond), warm.Round(time.Millisecond))

	// The server's own log goes to the data directory while it runs.
	if b := logTailOf(cfg.DataDir); !strings.Contains(b, "database system is ready to accept connections") {
		t.Fatalf("PostgreSQL logs %s lack the server's messages:\n%s", info.LogFile, b)
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, "postgres.secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", err, st)
	}
	// Listens on loopback only, no unix socket.
	var listen, sockets string
	db2.Pool.QueryRow(context.Background(), "SHOW listen_addresses").Scan(&listen)
	db2.Pool.QueryRow(context.Background(), "SHOW unix_socket_directories").Scan(&sockets)
	if listen != "127.0.0.1" || sockets != "" {
		t.Fatalf("listen_addresses=%q unix_socket_directories=%q", listen, sockets)
	}
	// Prepared statements keep their plan (see configurePool).
	var planMode string
	db2.Pool.QueryRow(context.Background(), "SHOW plan_cache_mode").Scan(&planMode)
	if planMode != "force_generic_plan" {
		t.Errorf("plan_cache_mode=%q, want force_generic_plan", planMode)
	}
}

func mustPassword(t *testing.T, dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres.secret"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// snapshot hashes every file (path, mode, content) under dir, but the lock file, which names the
// last process that took the directory.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == database.LockFileName {
			return nil
		}
		info, _ := d.Info()
		fmt.Fprintf(h, "%s %v %d\n", p, info.Mode(), info.Size())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestVersionMismatchIsRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "bob")
	db.Close()
	cluster := filepath.Join(cfg.DataDir, "postgres")
	installed, _ := os.ReadFile(filepath.Join(cluster, "PG_VERSION"))
	other := "14"
	if strings.TrimSpace(string(installed)) == "14" {
		other = "13"
	}
	if err := os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte(other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, cluster)
	_, err := database.Open(context.Background(), cfg, nil)
	if err == nil {
		t.Fatal("Open accepted a cluster made by another major version")
	}
	if !strings.Contains(err.Error(), "created by PostgreSQL "+other) || !strings.Contains(err.Error(), "embedded.binaries_path") {
		t.Fatalf("unhelpful error: %v", err)
	}
	t.Logf("refused with: %v", err)
	if after := snapshot(t, cluster); after != before {
		t.Fatal("the refused cluster was modified")
	}
	// Restoring the right version brings the data back.
	os.WriteFile(filepath.Join(cluster, "PG_VERSION"), installed, 0o600)
	db2, _ := open(t, cfg)
	if !hasUser(t, db2, "bob") {
		t.Fatal("data lost")
	}
}

func TestMissingMarkerKeepsClusterWithData(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	insertUser(t, db, "dave")
	db.Close()
	marker := filepath.Join(cfg.DataDir, "postgres", "healthcare-first-boot-complete")
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	db2, _ := open(t, cfg)
	if !hasUser(t, db2, "dave") {
		t.Fatal("a cluster holding data was wiped because its marker was missing")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("marker not restored")
	}
}

func TestStalePIDOfOtherProgramIsNotSignalled(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	db, _ := open(t, cfg)
	db.Close()
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Process.Kill()
	pidFile := filepath.Join(cfg.DataDir, "postgres", "postmaster.pid")
	os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n%s\n", sleep.Process.Pid, filepath.Join(cfg.DataDir, "postgres"))), 0o600)
	db2, _ := open(t, cfg)
	if err := db2.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sleep.ProcessState != nil || syscall.Kill(sleep.Process.Pid, 0) != nil {
		t.Fatal("a process that is not PostgreSQL was signalled")
	}
}

func postmasterPID(t *testing.T, cluster string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscanf(string(b), "%d", &pid)
	return pid
}

// TestConcurrentOpensMigrateOnce: replicas opening one empty external database together migrate
// it once; the others wait for the lock and find nothing to do.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	u := dbtest.URL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*database.DB, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := embeddedConfig("")
			cfg.Database.URL = u
			dbs[i], errs[i] = database.Open(context.Background(), cfg, nil)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
		if dbs[i].Info.Mode != "external" {
			t.Fatalf("mode %q", dbs[i].Info.Mode)
		}
	}
	v, err := database.SchemaVersion(context.Background(), dbs[0].Pool)
	if err != nil || v != database.LatestVersion() {
		t.Fatalf("schema version %d (%v), want %d", v, err, database.LatestVersion())
	}
}

func TestExternalErrorsAreClearAndHidePassword(t *testing.T) {
	t.Parallel()
	good, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	user := good.User.Username()

	bad := *good
	bad.User = url.UserPassword(user, "wrong-Secret-123")
	cfg := embeddedConfig("")
	cfg.Database.URL = bad.String()
	_, err = database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), "wrong-Secret-123") {
		t.Fatalf("bad password: %v", err)
	}

	down := *good
	down.User = url.UserPassword(user, "wrong-Secret-123")
	down.Host = "127.0.0.1:1"
	cfg.Database.URL = down.String()
	_, err = database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to PostgreSQL at 127.0.0.1:1") || strings.Contains(err.Error(), "wrong-Secret-123") {
		t.Fatalf("unreachable: %v", err)
	}
	t.Logf("unreachable: %v", err)

	nodb := *good
	nodb.Path = "/no_such_database"
	cfg.Database.URL = nodb.String()
	_, err = database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing database: %v", err)
	}
	if p, _ := good.User.Password(); p != "" && strings.Contains(err.Error(), p) {
		t.Fatal("password in error")
	}
}

// TestExternalURLSecretsStayOutOfLogsAndErrors: sslpassword= and password= in database.url never
// reach the start-up log, Info.URL or an error message (issue 16, item 3).
func TestExternalURLSecretsStayOutOfLogsAndErrors(t *testing.T) {
	t.Parallel()
	good, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := good.Query()
	q.Set("sslpassword", "key-Secret-456") // unused without a client key, accepted by pgx
	pw, _ := good.User.Password()
	q.Set("password", pw)
	good.User = url.User(good.User.Username())
	good.RawQuery = q.Encode()

	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := embeddedConfig("")
	cfg.Database.URL = good.String()
	db, err := database.Connect(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for where, text := range map[string]string{"Info.URL": db.Info.URL, "log": logs.String()} {
		if strings.Contains(text, "key-Secret-456") || (pw != "" && strings.Contains(text, pw)) {
			t.Errorf("%s shows a secret: %s", where, text)
		}
	}
	if !strings.Contains(db.Info.URL, "sslpassword=redacted") {
		t.Errorf("Info.URL: %s", db.Info.URL)
	}

	q.Set("connect_timeout", "not-a-number") // pgx refuses the URL: the error quotes it
	good.RawQuery = q.Encode()
	cfg.Database.URL = good.String()
	_, err = database.Connect(context.Background(), cfg, log)
	if err == nil || strings.Contains(err.Error(), "key-Secret-456") || (pw != "" && strings.Contains(err.Error(), pw)) {
		t.Fatalf("unparsable URL: %v", err)
	}
}

// TestExternalWaitsForAStartingServer: a server that starts accepting connections a moment after
// us (docker compose) is waited for, within database.connect_timeout.
func TestExternalWaitsForAStartingServer(t *testing.T) {
	t.Parallel()
	target, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	// A port that refuses connections until the proxy behind it starts, 1.5 s from now.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return // the test then fails on its own
		}
		t.Cleanup(func() { ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target.Host)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	late := *target
	late.Host = addr
	cfg := embeddedConfig("")
	cfg.Database.URL = late.String()
	cfg.Database.ConnectTimeout = 20 * time.Second
	start := time.Now()
	db, err := database.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open did not wait for the server: %v", err)
	}
	defer db.Close()
	if took := time.Since(start); took < time.Second {
		t.Fatalf("connected after %v, before the server was listening", took)
	}
}

func TestDataDirDefaults(t *testing.T) {
	cfg := embeddedConfig("")
	if os.Geteuid() == 0 {
		if got := database.DataDir(cfg); got != "/var/lib/healthcare" {
			t.Fatalf("root: %s", got)
		}
		return
	}
	t.Setenv("XDG_DATA_HOME", "/x/data")
	if got := database.DataDir(cfg); got != "/x/data/healthcare" {
		t.Fatalf("XDG: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := database.DataDir(cfg); got != "/home/u/.local/share/healthcare" {
		t.Fatalf("home: %s", got)
	}
	cfg.DataDir = "/srv/h"
	if got := database.DataDir(cfg); got != "/srv/h" {
		t.Fatalf("explicit: %s", got)
	}
}

func TestNoBinariesWithoutDownloadIsClear(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	cfg.Embedded.BinariesPath = t.TempDir()
	_, err := database.Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "embedded.binaries_path") {
		t.Fatalf("got %v", err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		t.Fatalf("raw path error: %v", err)
	}
}
