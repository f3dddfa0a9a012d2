// Package dbtest gives tests a real PostgreSQL: one embedded server per test package, and a fresh
// database per test.
//
// Use it from the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		pool := dbtest.Pool(t) // fresh database at the latest schema version; dropped after the test
//		...
//	}
//
// Main first drops root privileges to the user "postgres" (PostgreSQL refuses to run as root; CI
// runs tests as root), so a test package using it must not rely on root. It then gives the
// package a temporary directory of its own (PrivateTempDir) and fails the run if anything is left
// in it. The server is started on first use of Pool or URL, in a temporary directory, on a free
// port of 127.0.0.1, with fsync off (about 1 s for initdb and start); Main stops it and removes the
// directory after the tests. The migrations run once, into a template database that each Pool copies. A
// watchdog process stops the server too if the test binary dies without cleaning up (panic,
// timeout, signal, SIGKILL).
//
// When HEALTHCARE_TEST_DATABASE_URL is set (postgres://user:pass@host/db of a role allowed to
// CREATE DATABASE), no server is started and the test databases are created there instead.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"healthcare/app/database"
	"healthcare/app/privilege"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable that selects an external test server.
const EnvURL = "HEALTHCARE_TEST_DATABASE_URL"

// EnvBinaries names the environment variable that chooses the test server's PostgreSQL like
// embedded.binaries: "bundled" runs the one inside a -tags bundle_pg test binary.
const EnvBinaries = "HEALTHCARE_TEST_EMBEDDED_BINARIES"

// RunAs is the user Main switches to when the tests run as root.
const RunAs = "postgres"

var (
	schemaText string
	schemaErr  error

	startOnce sync.Once
	startErr  error
	adminURL  string // URL of the maintenance database on the test server
	admin     *pgxpool.Pool
	template  struct {
		once sync.Once
		name string
		err  error
	}
	server    *database.Embedded
	tempDir   string
	watchdog  *exec.Cmd
	watchPipe *os.File
)

// Main runs the package's tests around one PostgreSQL server and returns the exit code for os.Exit.
func Main(m *testing.M) int {
	// Read schema.sql while still root: the checkout may not be readable by the test user.
	schemaText, schemaErr = readSchema()
	if os.Geteuid() == 0 {
		if !flag.Parsed() {
			flag.Parse()
		}
		if err := dropRoot(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
			return 1
		}
	}
	done, err := PrivateTempDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return 1
	}
	code := func() int {
		defer shutdown()
		return m.Run()
	}()
	if err := done(); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// dropRoot switches to RunAs, first handing the files the go command wants written (test log,
// coverage, profiles) to that user.
func dropRoot() error {
	u, err := lookupIDs(RunAs)
	if err != nil {
		return fmt.Errorf("tests run as root and must switch to the user %q for PostgreSQL: %v; create that user (apt install postgresql creates it) or run the tests as a normal user", RunAs, err)
	}
	// Files and directories the go command asks the test binary to write, often inside its 0700
	// work directory: open them now, hand them to the user, and pass them on as /proc/self/fd
	// paths, which keep working after the drop. The descriptors stay open until exit.
	outDir := ""
	if f := flag.Lookup("test.outputdir"); f != nil {
		outDir = f.Value.String()
	}
	for _, name := range []string{"test.testlogfile", "test.coverprofile", "test.cpuprofile", "test.memprofile",
		"test.blockprofile", "test.mutexprofile", "test.trace", "test.gocoverdir"} {
		f := flag.Lookup(name)
		if f == nil || f.Value.String() == "" {
			continue
		}
		path := f.Value.String()
		if !filepath.IsAbs(path) && name != "test.testlogfile" && outDir != "" {
			path = filepath.Join(outDir, path)
		}
		var fd *os.File
		var err error
		if name == "test.gocoverdir" {
			fd, err = os.Open(path)
		} else {
			fd, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		}
		if err != nil {
			continue
		}
		_ = fd.Chown(u[0], u[1])
		_ = f.Value.Set("/proc/self/fd/" + strconv.Itoa(int(fd.Fd())))
	}
	if _, _, err := privilege.DropIfRoot(RunAs); err != nil {
		return err
	}
	return nil
}

func lookupIDs(name string) ([2]int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return [2]int{}, errors.New("no such user")
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return [2]int{}, errors.New("non-numeric uid or gid")
	}
	return [2]int{uid, gid}, nil
}

// start brings up the test server (or connects to the external one) on first use.
func start() error {
	startOnce.Do(func() { startErr = doStart() })
	return startErr
}

func doStart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" {
			return fmt.Errorf("%s is not a postgres:// URL", EnvURL)
		}
		adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "healthcare-dbtest-*")
		if err != nil {
			return fmt.Errorf("cannot create a temporary directory for the test PostgreSQL server: %v", err)
		}
		tempDir = dir
		srv, err := database.StartEmbedded(ctx, database.EmbeddedOptions{
			DataDir:        dir,
			NoSync:         true,
			MaxConnections: 300,
			Binaries:       os.Getenv(EnvBinaries),
		}, nil)
		if err != nil {
			os.RemoveAll(dir)
			tempDir = ""
			return fmt.Errorf("cannot start the test PostgreSQL server: %v", err)
		}
		server = srv
		startWatchdog(srv.Info().BinDir, srv.Info().DataDir, dir)
		adminURL = srv.URL("postgres")
	}
	pool, err := pgxpool.New(ctx, adminURL)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		return fmt.Errorf("cannot connect to the test PostgreSQL server: %v", err)
	}
	admin = pool
	return nil
}

func shutdown() {
	if admin != nil {
		if template.name != "" && server == nil { // an external server keeps what we leave
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{template.name}.Sanitize()+" WITH (FORCE)")
			cancel()
		}
		admin.Close()
	}
	if server != nil {
		if err := server.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		}
	}
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
	if watchPipe != nil {
		watchPipe.Close()
		done := make(chan struct{})
		go func() { watchdog.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Pool returns a pool on a fresh database migrated to the latest schema version (database.Migrate).
// The pool is closed and the database dropped when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	if err := start(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	template.once.Do(func() { template.name, template.err = makeTemplate() })
	if template.err != nil {
		t.Fatalf("dbtest: %v", template.err)
	}
	pool, err := pgxpool.New(context.Background(), newDatabase(t, template.name))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped (cleanups run last-in first-out)
	return pool
}

// makeTemplate creates a database and migrates it, for Pool to copy: copying is much faster than
// migrating each test's database. The name comes back with an error too, for shutdown to drop.
func makeTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := randomName("template_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("cannot create the template database: %v", err)
	}
	pool, err := pgxpool.New(ctx, databaseURL(name))
	if err != nil {
		return name, fmt.Errorf("cannot connect to the template database: %v", err)
	}
	// Closed before any copy: CREATE DATABASE ... TEMPLATE needs the template without connections.
	defer pool.Close()
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{}); err != nil {
		return name, fmt.Errorf("cannot migrate the template database: %v", err)
	}
	return name, nil
}

// URL returns the connection URL (with password) of a fresh, empty database, dropped when the test
// ends. Use it to start the application against an "external" database.
func URL(t testing.TB) string {
	t.Helper()
	if err := start(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return newDatabase(t, "")
}

// newDatabase creates a database, a copy of from when not empty, dropped when the test ends,
// and returns its URL.
func newDatabase(t testing.TB, from string) string {
	t.Helper()
	name := randomName("test_")
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if from != "" {
		sql += " TEMPLATE " + pgx.Identifier{from}.Sanitize()
	}
	ctx := context.Background()
	if _, err := admin.Exec(ctx, sql); err != nil {
		t.Fatalf("dbtest: cannot create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: cannot drop test database %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// databaseURL is the test server's URL with the database name replaced.
func databaseURL(name string) string {
	u, _ := url.Parse(adminURL) // checked by doStart
	u.Path = "/" + name
	return u.String()
}

// Schema returns the text of the repository's schema.sql: the reference copy of the full schema,
// which the binary does not apply (it runs database.Migrations).
func Schema(t testing.TB) string {
	t.Helper()
	if schemaErr != nil {
		t.Fatalf("dbtest: %v", schemaErr)
	}
	if schemaText == "" {
		// Main was not used (or not yet run): read it now.
		schemaText, schemaErr = readSchema()
		if schemaErr != nil {
			t.Fatalf("dbtest: %v", schemaErr)
		}
	}
	return schemaText
}

// readSchema finds schema.sql next to go.mod, walking up from the working directory.
func readSchema() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("cannot find schema.sql: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(root, "schema.sql"))
	if err != nil {
		return "", fmt.Errorf("cannot read schema.sql next to go.mod in %s: %v", root, err)
	}
	return string(b), nil
}

// ModuleRoot is the directory holding go.mod above the working directory (a test's package
// directory), where schema.sql and config.yaml live.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
