//go:build unix

package cli_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcare/app/database"
)

const password = "Str0ng!Passw0rd-e2e"

// register creates an account through the API.
func register(t *testing.T, p *proc, username string) {
	t.Helper()
	status, _, body := p.request("POST", "/api/auth/register/", map[string]string{
		"username": username, "email": username + "@example.com", "password": password, "password2": password})
	if status != 201 {
		t.Fatalf("register %s: %d %s", username, status, body)
	}
}

// login returns an access token.
func login(t *testing.T, p *proc, username string) string {
	t.Helper()
	status, _, body := p.request("POST", "/api/auth/login/", map[string]string{"username": username, "password": password})
	if status != 200 {
		t.Fatalf("login %s: %d %s", username, status, body)
	}
	var tok struct{ Access string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.Access == "" {
		t.Fatalf("login %s: %s", username, body)
	}
	return tok.Access
}

// doctorNames lists the doctors' names through the API.
func doctorNames(t *testing.T, p *proc, token string) []string {
	t.Helper()
	status, _, body := p.request("GET", "/api/doctors/", nil, "Authorization", "Bearer "+token)
	if status != 200 {
		t.Fatalf("list doctors: %d %s", status, body)
	}
	var ds []struct{ Name string }
	if err := json.Unmarshal(body, &ds); err != nil {
		t.Fatalf("list doctors: %s", body)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return names
}

// insertDoctor writes a row straight into the embedded server and returns once it is committed.
func insertDoctor(t *testing.T, dataDir, name string) {
	t.Helper()
	conn := embeddedConn(t, dataDir, "healthcare")
	if _, err := conn.Exec(context.Background(),
		"INSERT INTO doctors (name, specialization, contact_info) VALUES ($1, 'Cardiology', $2)", name, name+"@clinic.example"); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
}

// stopAndCheck stops p with SIGTERM and checks that the exit is clean and no PostgreSQL process of
// its data directory is left.
func stopAndCheck(t *testing.T, p *proc) time.Duration {
	t.Helper()
	family := postgresFamily(p.DataDir)
	if len(family) == 0 {
		t.Fatalf("no PostgreSQL processes found for %s while serving", p.DataDir)
	}
	code, took := p.stop(syscall.SIGTERM)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.out.String())
	}
	checkGone(t, family, p.DataDir)
	return took
}

// checkGone fails if any of family, or any postmaster of dataDir, still runs. The postmaster
// removes postmaster.pid (which pg_ctl stop waits for) just before it exits, so a process in its
// last milliseconds is given a moment.
func checkGone(t *testing.T, family []procInfo, dataDir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []procInfo
		for _, pi := range family {
			if alive(pi.PID) {
				left = append(left, pi)
			}
		}
		left = append(left, postgresFamily(dataDir)...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("PostgreSQL processes still run 5 s after the app exited: %+v", left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestColdWarmStart: a fresh data directory boots (initdb included), takes a user through the API
// and a row through SQL, stops cleanly, and the second start has both. It also prints the
// measurements: start-up times, shutdown time, idle RSS and binary size. (Not parallel, so the
// numbers are not skewed by other tests.)
func TestColdWarmStart(t *testing.T) {
	dataDir := filepath.Join(tempDir(t), "data")
	port := freePort(t)

	p, cold := serve(t, opts{DataDir: dataDir, Port: port})
	time.Sleep(500 * time.Millisecond) // let start-up garbage be collected before measuring
	rssCold := vmRSS(p.cmd.Process.Pid)
	register(t, p, "alice")
	insertDoctor(t, dataDir, "Dr Persistent")
	if names := doctorNames(t, p, login(t, p, "alice")); strings.Join(names, ",") != "Dr Persistent" {
		t.Fatalf("doctors = %q", names)
	}
	for _, want := range []string{`"msg":"data directory"`, `"msg":"PostgreSQL (embedded)"`, `"found":`, `"version":"`,
		`ready: open http://127.0.0.1:` + strconv.Itoa(port) + `/`} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("start-up output lacks %s:\n%s", want, p.out.String())
		}
	}
	stopCold := stopAndCheck(t, p)
	if !strings.Contains(p.out.String(), `"msg":"stopped"`) {
		t.Errorf("shutdown not logged:\n%s", p.out.String())
	}

	// A new free port: another test process may have taken the cold run's port in the meantime.
	p, warm := serve(t, opts{DataDir: dataDir})
	time.Sleep(500 * time.Millisecond)
	rssWarm := vmRSS(p.cmd.Process.Pid)
	if names := doctorNames(t, p, login(t, p, "alice")); strings.Join(names, ",") != "Dr Persistent" {
		t.Errorf("after restart doctors = %q", names)
	}
	stopWarm := stopAndCheck(t, p)

	st, _ := os.Stat(binary)
	t.Logf("MEASURED cold start to ready %v (initdb included), warm start to ready %v", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	t.Logf("MEASURED shutdown (SIGTERM to exit, PostgreSQL stopped) %v after the cold run, %v after the warm run", stopCold.Round(time.Millisecond), stopWarm.Round(time.Millisecond))
	t.Logf("MEASURED idle RSS of the Go process: %d KiB after the cold start, %d KiB after the warm start", rssCold, rssWarm)
	t.Logf("MEASURED binary size (go build, no -s -w): %.1f MB", float64(st.Size())/1e6)
}

// TestSIGTERMLeavesNoPostgres: SIGTERM, SIGINT and SIGHUP (a closed terminal) stop the server,
// the pool and PostgreSQL.
func TestSIGTERMLeavesNoPostgres(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} { // SIGHUP: the terminal closed
		dataDir := filepath.Join(tempDir(t), "data")
		p, _ := serve(t, opts{DataDir: dataDir})
		family := postgresFamily(dataDir)
		if len(family) < 2 {
			t.Fatalf("expected a postmaster and its children, found %+v", family)
		}
		code, _ := p.stop(sig)
		if code != 0 {
			t.Errorf("%v: exit code %d", sig, code)
		}
		checkGone(t, family, dataDir)
		if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); err == nil {
			t.Errorf("%v: postmaster.pid left behind: PostgreSQL did not shut down cleanly", sig)
		}
	}
}

// TestSIGKILLRecovery: after a SIGKILL of the app its PostgreSQL keeps running (pg_ctl puts it in
// its own session); the next start stops that orphan, starts afresh and has every committed row.
func TestSIGKILLRecovery(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "bob")
	insertDoctor(t, dataDir, "Dr Committed")
	orphan := postmasterPID(t, dataDir)
	if code, _ := p.stop(syscall.SIGKILL); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit code %d after SIGKILL", code)
	}
	if !alive(orphan) {
		t.Logf("note: PostgreSQL %d did not outlive the app", orphan)
	}

	p, _ = serve(t, opts{DataDir: dataDir})
	if alive(orphan) {
		t.Errorf("the orphaned PostgreSQL %d still runs after the restart", orphan)
	}
	if pid := postmasterPID(t, dataDir); pid == orphan {
		t.Errorf("the restart reused the orphan %d instead of starting afresh", pid)
	}
	if !strings.Contains(p.out.String(), "left running") {
		t.Errorf("the orphan's stop was not logged:\n%s", p.out.String())
	}
	if names := doctorNames(t, p, login(t, p, "bob")); strings.Join(names, ",") != "Dr Committed" {
		t.Errorf("after recovery doctors = %q", names)
	}
	stopAndCheck(t, p)
}

// TestRootDropsPrivileges: started as root, the app and every PostgreSQL process run as
// embedded.run_as, which owns the data directory (created 0700 with its missing parent); the log
// says so.
func TestRootDropsPrivileges(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal("the user postgres is needed (apt install postgresql creates it)")
	}
	uid, _ := strconv.Atoi(pg.Uid)
	parent := filepath.Join(tempDir(t), "clinic") // missing too: created for postgres as well
	dataDir := filepath.Join(parent, "data")
	p, _ := serve(t, opts{DataDir: dataDir})
	for _, d := range []string{parent, dataDir} {
		if owner, mode := ownerMode(t, d); owner != uid || mode != fs.ModeDir|0o700 {
			t.Errorf("%s: owner %d mode %v, want %d (postgres) drwx------", d, owner, mode, uid)
		}
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
	family := postgresFamily(dataDir)
	if len(family) < 2 {
		t.Fatalf("PostgreSQL processes not found: %+v", family)
	}
	for _, pi := range family {
		for _, id := range pi.UIDs {
			if id != uid {
				t.Errorf("PostgreSQL process %d (%s) runs with uids %v, want %d", pi.PID, pi.Cmdline, pi.UIDs, uid)
				break
			}
		}
	}
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // PostgreSQL removes temporary files as we walk
		}
		if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("%s belongs to uid %d, want %d", path, st.Uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if !strings.Contains(p.out.String(), "started as root: switched to an unprivileged user") || !strings.Contains(p.out.String(), `"user":"postgres"`) {
		t.Errorf("the switch is not logged:\n%s", p.out.String())
	}
	stopAndCheck(t, p)
}

// treeDigest describes every file under dir: name, owner, mode, size and content hash (a
// symlink's target instead, never followed). The binary never changes the owner of anything it
// did not create, so the owners are part of what must stay.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sum := ""
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			sum, _ = os.Readlink(path)
		case !d.IsDir():
			c, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h := sha256.Sum256(c)
			sum = hex.EncodeToString(h[:8])
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %d:%d %s %d %s\n", rel, st.Uid, st.Gid, info.Mode(), info.Size(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestVersionMismatchRefused: a cluster made by another PostgreSQL major version is refused with a
// sentence saying what to do, and left exactly as it was.
func TestVersionMismatchRefused(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	cluster := filepath.Join(dataDir, "postgres")
	files := map[string]string{
		"PG_VERSION":                     "11\n",
		"healthcare-first-boot-complete": "2020-01-01T00:00:00Z\n",
		"base/16384/1259":                "table data from PostgreSQL 11",
		"global/pg_control":              "control file",
		"postgresql.conf":                "# settings\n",
	}
	for name, body := range files {
		p := filepath.Join(cluster, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	giveToServer(t, dataDir)
	before := treeDigest(t, cluster)
	code, out := run(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(out, "was created by PostgreSQL 11") || !strings.Contains(out, "embedded.binaries_path") {
		t.Errorf("the refusal does not say what happened and what to do:\n%s", out)
	}
	if after := treeDigest(t, cluster); after != before {
		t.Errorf("the data directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestMigrate: `healthcare migrate` initialises the cluster, applies the migrations and says which,
// then stops PostgreSQL; `migrate --status` lists them and changes nothing.
func TestMigrate(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	code, out := run(t, opts{DataDir: dataDir}, "migrate")
	if code != 0 || !strings.Contains(out, "applied 0001_baseline.sql\n") || !strings.Contains(out, "the database schema is now at version ") {
		t.Fatalf("migrate: exit %d:\n%s", code, out)
	}
	checkGone(t, nil, dataDir)
	// Again: nothing to do.
	if code, out := run(t, opts{DataDir: dataDir}, "migrate"); code != 0 || !strings.Contains(out, "nothing to apply") || strings.Contains(out, "applied 0001") {
		t.Fatalf("second migrate: exit %d:\n%s", code, out)
	}
	code, out = run(t, opts{DataDir: dataDir}, "migrate", "--status")
	if code != 0 || !regexp.MustCompile(`(?m)^VERSION +NAME +STATE +APPLIED AT\n0001 +baseline +applied +20\d\d-\d\d-\d\dT`).MatchString(out) ||
		!strings.Contains(out, "database schema version: ") || !strings.Contains(out, "up to date\n") {
		t.Fatalf("migrate --status: exit %d:\n%s", code, out)
	}
	checkGone(t, nil, dataDir)
}

// TestExternalDatabase: two servers against one external PostgreSQL start at the same time, the
// schema is applied once (under the advisory lock), and they behave as one server: accounts,
// tokens, logins (refresh rotation and its reuse detection), data and rate limits are shared (see
// checkReplicas). The "external" server is the embedded PostgreSQL of a third instance, with a
// database of its own. Then backup, restore and migrate against that database.
func TestExternalDatabase(t *testing.T) {
	t.Parallel()
	hostDir := filepath.Join(tempDir(t), "data")
	host, _ := serve(t, opts{DataDir: hostDir})
	admin := embeddedConn(t, hostDir, "postgres")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE shared"); err != nil {
		t.Fatal(err)
	}
	pw, _ := os.ReadFile(filepath.Join(hostDir, "postgres.secret"))
	lines := strings.Split(string(must(os.ReadFile(filepath.Join(hostDir, "postgres", "postmaster.pid")))), "\n")
	url := "postgres://postgres:" + strings.TrimSpace(string(pw)) + "@127.0.0.1:" + strings.TrimSpace(lines[3]) + "/shared?sslmode=disable"
	env := []string{"DATABASE_URL=" + url, "HEALTHCARE_AUTH_JWT_SECRET=" + strings.Repeat("k", 48)}

	// The replicas: three failed logins of one username from one address, then 429 (the window
	// long enough that no window ends during the test; windows are counted in the database).
	replicaEnv := append(slices.Clone(env), "HEALTHCARE_RATE_LIMIT_LOGIN_PER_USERNAME=3", "HEALTHCARE_RATE_LIMIT_LOGIN_WINDOW=8760h")
	var wg sync.WaitGroup
	procs := make([]*proc, 2)
	for i := range procs {
		procs[i] = launch(t, opts{Port: freePort(t), Env: replicaEnv}, "serve")
	}
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.waitReady() }()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	a, b := procs[0], procs[1]
	for _, p := range procs {
		if !strings.Contains(p.out.String(), "PostgreSQL (external)") {
			t.Errorf("external mode not announced:\n%s", p.out.String())
		}
		if strings.Contains(p.out.String(), strings.TrimSpace(string(pw))) {
			t.Errorf("the database password is in the log:\n%s", p.out.String())
		}
	}
	conn := embeddedConn(t, hostDir, "shared")
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'doctors', 'patients', 'assignments')").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 4 {
		t.Errorf("%d of the 4 tables exist in the shared database", tables)
	}
	checkReplicas(t, a, b, conn)
	for _, p := range procs {
		if code, _ := p.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("exit code %d", code)
		}
	}

	// Backup and restore work on an external database too (the servers stopped for the restore).
	file := filepath.Join(outDir(t), "shared.backup")
	if code, out := run(t, opts{Env: env}, "backup", "--out", file); code != 0 {
		t.Fatalf("backup of the external database: exit %d\n%s", code, out)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM users WHERE username = 'carol'"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if code, out := run(t, opts{Env: env}, "restore", file, "--yes"); code != 0 || !strings.Contains(out, "shared_before_restore_") {
		t.Fatalf("restore into the external database: exit %d\n%s", code, out)
	}
	// A database that held only someone else's tables (the original system's, say) is kept aside,
	// never dropped as "empty".
	if _, err := admin.Exec(ctx, "CREATE DATABASE foreign_tables"); err != nil {
		t.Fatal(err)
	}
	fconn := embeddedConn(t, hostDir, "foreign_tables")
	if _, err := fconn.Exec(ctx, "CREATE TABLE api_doctor (id bigint PRIMARY KEY); INSERT INTO api_doctor VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	fconn.Close(ctx)
	foreignEnv := []string{"DATABASE_URL=" + strings.Replace(url, "/shared?", "/foreign_tables?", 1), env[1]}
	if code, out := run(t, opts{Env: foreignEnv}, "restore", file, "--yes"); code != 0 || !strings.Contains(out, "foreign_tables_before_restore_") {
		t.Fatalf("restore over a database with foreign tables: exit %d (its previous content must be kept)\n%s", code, out)
	}
	conn = embeddedConn(t, hostDir, "shared")
	var carol int
	conn.QueryRow(ctx, "SELECT count(*) FROM users WHERE username = 'carol'").Scan(&carol)
	if carol != 1 {
		t.Errorf("carol not restored (%d)", carol)
	}

	// `healthcare migrate` against an external database: status first (it changes nothing), then
	// migrations applied, nothing kept locally.
	if _, err := admin.Exec(ctx, "CREATE DATABASE migrated"); err != nil {
		t.Fatal(err)
	}
	wd := tempDir(t)
	migrated := opts{WorkDir: wd, Env: []string{"DATABASE_URL=" + strings.Replace(url, "/shared?", "/migrated?", 1)}}
	code, out := run(t, migrated, "migrate", "--status")
	if code != 0 || !regexp.MustCompile(`(?m)^0001 +baseline +pending +-$`).MatchString(out) ||
		!strings.Contains(out, "database schema version: 0 ") || !strings.Contains(out, "pending: run 'healthcare migrate'") {
		t.Errorf("migrate --status: exit %d:\n%s", code, out)
	}
	if err := embeddedConn(t, hostDir, "migrated").QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("migrate --status changed the database: %d tables %v", tables, err)
	}
	code, out = run(t, migrated, "migrate")
	if code != 0 || !strings.Contains(out, "applied 0001_baseline.sql") || !strings.Contains(out, `"msg":"schema migrated","database":"external"`) {
		t.Errorf("migrate: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, strings.TrimSpace(string(pw))) {
		t.Errorf("the database password is in the output:\n%s", out)
	}
	// A schema from a newer release: status says so and exits 1, migrate refuses.
	if _, err := embeddedConn(t, hostDir, "migrated").Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	code, out = run(t, migrated, "migrate", "--status")
	if code != 1 || !regexp.MustCompile(`(?m)^9999 +future +applied \(unknown to this release\)`).MatchString(out) ||
		!strings.Contains(out, "healthcare: the database schema is version 9999 but this program knows only up to ") {
		t.Errorf("migrate --status on a newer schema: exit %d:\n%s", code, out)
	}
	if code, out = run(t, migrated, "migrate"); code != 1 || !strings.Contains(out, "run a newer release of healthcare, or restore a backup made by this one.") {
		t.Errorf("migrate on a newer schema: exit %d:\n%s", code, out)
	}
	if err := embeddedConn(t, hostDir, "migrated").QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'patients'").Scan(&tables); err != nil || tables != 1 {
		t.Errorf("migrate did not create the tables: %d %v", tables, err)
	}
	stopAndCheck(t, host)
}

// checkReplicas checks that two servers on one database behave as one: the schema was applied
// once, a token from one works on the other, a refresh token retired on one is reuse on the other
// (and ends the login everywhere), data written through one is read and changed through the other,
// and the login rate limit counts the failures made on both (both run with
// rate_limit.login_per_username 3). conn is a connection to their database.
func checkReplicas(t *testing.T, a, b *proc, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()

	// Schema applied once: every migration is recorded once, and exactly one of the two servers
	// logged applying it (the other waited on the schema lock, then found nothing to do).
	rows, err := conn.Query(ctx, "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[int]int64{}
	for rows.Next() {
		var v int
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		recorded[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	applied := map[int]int{}
	for _, p := range []*proc{a, b} {
		for _, l := range p.logLines() {
			if l["msg"] == "database: migration applied" {
				v, _ := l["version"].(float64)
				applied[int(v)]++
			}
		}
	}
	all := database.Migrations()
	if len(recorded) != len(all) {
		t.Errorf("schema_migrations holds %d versions, want %d: %v", len(recorded), len(all), recorded)
	}
	for _, m := range all {
		if recorded[m.Version] != 1 || applied[m.Version] != 1 {
			t.Errorf("migration %s: recorded %d times, applied %d times by the two servers (want 1 and 1)", m.File(), recorded[m.Version], applied[m.Version])
		}
	}
	if len(applied) != len(all) {
		t.Errorf("the servers logged applying %v, want each of the %d migrations once", applied, len(all))
	}

	// One replica registers, the other logs in; a token from one works on the other.
	register(t, a, "carol")
	token := login(t, b, "carol")
	if status, _, body := a.request("GET", "/api/doctors/", nil, "Authorization", "Bearer "+token); status != 200 {
		t.Errorf("token from one replica refused by the other: %d %s", status, body)
	}

	// Data written through one replica is read through the other, changed there, and the change
	// is seen through the first.
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	status, _, body := a.request("POST", "/api/patients/", map[string]any{"name": "Ada Replica", "age": 36, "gender": "F",
		"address": "1 Shared Street", "phone_number": "555-0101"}, auth(token)...)
	var created struct{ ID int64 }
	if status != 201 || json.Unmarshal(body, &created) != nil || created.ID == 0 {
		t.Fatalf("create a patient through A: %d %s", status, body)
	}
	path := fmt.Sprintf("/api/patients/%d/", created.ID)
	var pat struct {
		Name        string `json:"name"`
		PhoneNumber string `json:"phone_number"`
	}
	if status, _, body := b.request("GET", path, nil, auth(token)...); status != 200 || json.Unmarshal(body, &pat) != nil || pat.Name != "Ada Replica" {
		t.Errorf("the patient created through A, read through B: %d %s", status, body)
	}
	if status, _, body := b.request("PATCH", path, map[string]string{"phone_number": "555-0202"}, auth(token)...); status != 200 {
		t.Errorf("update the patient through B: %d %s", status, body)
	}
	if status, _, body := a.request("GET", path, nil, auth(token)...); status != 200 || json.Unmarshal(body, &pat) != nil || pat.PhoneNumber != "555-0202" {
		t.Errorf("the change made through B, read through A: %d %s", status, body)
	}

	// Refresh rotation across replicas. A login on A gives r0; A rotates it to r1; B rotates r1 to
	// r2. r0 is then neither the current token nor the one replaced last (which auth.refresh_grace
	// would answer with r2 again), so presenting it to B is reuse: refused, and the whole login
	// ends on both replicas: r2 and the login's access tokens are refused too.
	type pair struct{ Refresh, Access string }
	refresh := func(p *proc, tok string) (int, pair, string) {
		t.Helper()
		status, _, body := p.request("POST", "/api/auth/login/refresh/", map[string]string{"refresh": tok})
		var out pair
		json.Unmarshal(body, &out)
		return status, out, string(body)
	}
	status, _, body = a.request("POST", "/api/auth/login/", map[string]string{"username": "carol", "password": password})
	var r0 pair
	if status != 200 || json.Unmarshal(body, &r0) != nil || r0.Refresh == "" {
		t.Fatalf("login on A: %d %s", status, body)
	}
	status, r1, body1 := refresh(a, r0.Refresh)
	if status != 200 || r1.Refresh == "" || r1.Refresh == r0.Refresh {
		t.Fatalf("refresh on A: %d %s", status, body1)
	}
	status, r2, body2 := refresh(b, r1.Refresh)
	if status != 200 || r2.Refresh == "" || r2.Refresh == r1.Refresh || r2.Refresh == r0.Refresh {
		t.Fatalf("refresh on B of the token A rotated to: %d %s", status, body2)
	}
	if status, _, body := a.request("GET", "/api/auth/me/", nil, auth(r2.Access)...); status != 200 {
		t.Errorf("access token from B's refresh, on A: %d %s", status, body)
	}
	if status, _, body := refresh(b, r0.Refresh); status != 401 || !strings.Contains(body, `"code":"token_not_valid"`) {
		t.Errorf("the refresh token retired on A, presented to B: %d %s (want 401 token_not_valid)", status, body)
	}
	// The log reaches b.out through a pipe read by another goroutine: give it a moment.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.out.String(), "refresh token reused: login revoked"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("B did not log the reuse:\n%s", b.out.String())
			break
		}
	}
	if status, _, body := refresh(a, r2.Refresh); status != 401 {
		t.Errorf("the newest refresh token of the login revoked on B, on A: %d %s (want 401)", status, body)
	}
	for _, p := range []*proc{a, b} {
		for _, tok := range []string{r0.Access, r1.Access, r2.Access} {
			if status, _, body := p.request("GET", "/api/auth/me/", nil, auth(tok)...); status != 401 {
				t.Errorf("an access token of the revoked login still works on %s: %d %s", p.URL, status, body)
			}
		}
	}
	// Only that login ended: carol's first one (from B) still works on both.
	for _, p := range []*proc{a, b} {
		if status, _, body := p.request("GET", "/api/auth/me/", nil, auth(token)...); status != 200 {
			t.Errorf("carol's other login ended too, on %s: %d %s", p.URL, status, body)
		}
	}

	// Rate limits are shared: three failed logins of dave from 127.0.0.1, split across A and B,
	// use up the limit of 3; the next attempt is refused by either replica, the right password too.
	register(t, b, "dave")
	for i, p := range []*proc{a, b, a} {
		if status, _, body := p.request("POST", "/api/auth/login/", map[string]string{"username": "dave", "password": "wrong-" + password}); status != 401 {
			t.Fatalf("failed login %d of dave: %d %s (want 401)", i+1, status, body)
		}
	}
	for _, p := range []*proc{b, a} {
		status, header, body := p.request("POST", "/api/auth/login/", map[string]string{"username": "dave", "password": "wrong-" + password})
		if status != 429 || header.Get("Retry-After") == "" {
			t.Errorf("fourth failed login of dave, on %s: %d %s (want 429 with Retry-After)", p.URL, status, body)
		}
	}
	if status, _ := loginAs(b, "dave", password); status != 429 {
		t.Errorf("dave's right password while the pair is locked: %d (want 429)", status)
	}
	// The limit is per username: carol still signs in, on both.
	login(t, a, "carol")
	login(t, b, "carol")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// imageUser is who the Docker image runs as: when the tests are root, an unprivileged system user
// (nobody); otherwise the current user.
func imageUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody to run as")
	}
	return u
}

// newestPostgres is the newest /usr/lib/postgresql/<major>, as the image's
// HEALTHCARE_EMBEDDED_BINARIES_PATH names it.
func newestPostgres(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestMajor := "", 0
	for _, d := range dirs {
		root := filepath.Dir(filepath.Dir(d))
		if n, err := strconv.Atoi(filepath.Base(root)); err == nil && n > bestMajor {
			best, bestMajor = root, n
		}
	}
	if best == "" {
		t.Skip("no Debian PostgreSQL in /usr/lib/postgresql (the image installs postgresql-15)")
	}
	return best
}

// dockerfileEnv reads the variables of the Dockerfile's ENV instructions.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ENV ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

// TestImageLikeRun runs the binary as the Docker image does: an unprivileged user, the image's
// environment, listening on 0.0.0.0; `healthcare healthcheck` (the HEALTHCHECK) answers from it.
func TestImageLikeRun(t *testing.T) {
	t.Parallel()
	u := imageUser(t)
	dataDir := filepath.Join(tempDir(t), "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if u != nil { // the Dockerfile hands /data to its user
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dataDir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	// The image's own ENV, with the volume and port of this test.
	var env []string
	for k, v := range dockerfileEnv(t) {
		switch k {
		case "HEALTHCARE_DATA_DIR":
			v = dataDir
		case "HEALTHCARE_SERVER_ADDR":
			if !strings.HasPrefix(v, "0.0.0.0:") {
				t.Errorf("the image listens on %s, not on 0.0.0.0", v)
			}
			v = "0.0.0.0:" + strconv.Itoa(port)
		case "HEALTHCARE_EMBEDDED_BINARIES":
			if v == "bundled" && !slices.Contains(buildTags, "bundle_pg") {
				t.Logf("the image runs the PostgreSQL inside it; this test binary has none (no -tags bundle_pg): using auto")
				v = "auto"
			}
		case "HEALTHCARE_EMBEDDED_BINARIES_PATH":
			if _, err := os.Stat(filepath.Join(v, "bin", "postgres")); err != nil {
				t.Logf("%s (the image's PostgreSQL) is not installed here; using %s", v, newestPostgres(t))
				v = newestPostgres(t)
			}
		}
		env = append(env, k+"="+v)
	}
	if len(env) < 3 {
		t.Fatalf("the Dockerfile's ENV is incomplete: %q", env)
	}
	p := launch(t, opts{Env: env, User: u}, "serve")
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	p.DataDir = dataDir
	p.waitReady()
	if !strings.Contains(p.out.String(), "ready: open http://127.0.0.1:"+strconv.Itoa(port)+"/") {
		t.Errorf("0.0.0.0 is not announced as a URL to open:\n%s", p.out.String())
	}
	if strings.Contains(p.out.String(), "started as root") {
		t.Error("the image-like run was root")
	}
	if code, out := run(t, opts{Env: env, User: u}, "healthcheck"); code != 0 {
		t.Errorf("healthcheck: exit %d: %s", code, out)
	}
	httpChecks(t, p)
	stopAndCheck(t, p)
	if code, out := run(t, opts{Env: env, User: u}, "healthcheck"); code != 1 || !strings.Contains(out, "did not answer") {
		t.Errorf("healthcheck with the server stopped: exit %d: %s", code, out)
	}
}

// TestHealthcheckFindsTheServer: `healthcare healthcheck` without flags finds a server started
// with its own --addr (docker run IMAGE serve --addr ...), whatever server.addr says in its
// environment; its own --addr is honoured when given (issue 16, item 11).
func TestHealthcheckFindsTheServer(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	envPort, servePort := freePort(t), freePort(t)
	o := opts{DataDir: dataDir, Port: envPort} // HEALTHCARE_SERVER_ADDR names envPort, where nothing listens
	p := launch(t, o, "serve", "--addr", "127.0.0.1:"+strconv.Itoa(servePort))
	p.URL = "http://127.0.0.1:" + strconv.Itoa(servePort)
	p.waitReady()
	if code, out := run(t, o, "healthcheck"); code != 0 {
		t.Errorf("healthcheck without flags: exit %d: %s", code, out)
	}
	if code, out := run(t, o, "healthcheck", "--addr", "127.0.0.1:"+strconv.Itoa(servePort)); code != 0 {
		t.Errorf("healthcheck --addr of the server: exit %d: %s", code, out)
	}
	if code, out := run(t, o, "healthcheck", "--addr", "127.0.0.1:"+strconv.Itoa(envPort)); code != 1 || !strings.Contains(out, "did not answer") {
		t.Errorf("healthcheck --addr elsewhere: exit %d: %s", code, out)
	}
	stopAndCheck(t, p)
	if code, out := run(t, o, "healthcheck"); code != 1 || !strings.Contains(out, strconv.Itoa(envPort)+"/readyz did not answer") {
		t.Errorf("healthcheck with the server stopped (server.addr again): exit %d: %s", code, out)
	}
}

// httpChecks: the binary's HTTP edge — JSON errors, request ids, security headers, the UI.
func httpChecks(t *testing.T, p *proc) {
	t.Helper()
	status, h, body := p.request("GET", "/no/such/path", nil, "X-Request-ID", "e2e-req-1")
	if status != 404 || string(body) != `{"detail":"Not found."}` || h.Get("X-Request-ID") != "e2e-req-1" {
		t.Errorf("404: %d %q %v", status, body, h)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP: %q", h.Get("Content-Security-Policy"))
	}
	status, _, body = p.request("DELETE", "/healthz", nil)
	if status != 405 || string(body) != `{"detail":"Method \"DELETE\" not allowed."}` {
		t.Errorf("405: %d %q", status, body)
	}
	status, h, body = oversized(t, p)
	if status != 413 || string(body) != `{"detail":"Request body is too large."}` || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("413: %d %q %q", status, h.Get("Content-Type"), body)
	}
	status, h, body = p.request("GET", "/", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("ETag") == "" || !strings.Contains(string(body), "<") {
		t.Errorf("UI: %d %q %q", status, h.Get("Content-Type"), h.Get("ETag"))
	}
	status, h, _ = p.request("GET", "/api/auth/me/", nil)
	if status != 401 || h.Get("Cache-Control") != "no-store" {
		t.Errorf("/api: %d Cache-Control %q", status, h.Get("Cache-Control"))
	}
}

// oversized announces a 2 MiB body and sends none: the server must refuse it from the
// Content-Length alone. (Sending the body would race the server's close with a connection reset.)
func oversized(t *testing.T, p *proc) (int, http.Header, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /api/auth/register/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestHalfInitialisedDataDir: a cluster this program did not finish making (no marker, no
// password file) is refused untouched, never re-initialised; one with data but no marker is kept.
func TestHalfInitialisedDataDir(t *testing.T) {
	t.Parallel()
	const marker = "healthcare-first-boot-complete"

	t.Run("foreign cluster is refused untouched", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(tempDir(t), "data")
		cluster := filepath.Join(dataDir, "postgres")
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		// What a first start killed right after initdb leaves behind.
		initdb := exec.Command(filepath.Join(newestPostgres(t), "bin", "initdb"), "-D", cluster, "-U", "postgres", "--auth=trust", "--no-sync")
		if os.Geteuid() == 0 {
			pg, err := user.Lookup("postgres")
			if err != nil {
				t.Skip("no postgres user to run initdb as")
			}
			uid, _ := strconv.Atoi(pg.Uid)
			gid, _ := strconv.Atoi(pg.Gid)
			if err := os.Chown(dataDir, uid, gid); err != nil {
				t.Fatal(err)
			}
			initdb.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
		if out, err := initdb.CombinedOutput(); err != nil {
			t.Fatalf("initdb: %v\n%s", err, out)
		}
		before := treeDigest(t, cluster)
		code, out := run(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
		if code != 1 || !strings.Contains(out, "postgres.secret") || !strings.Contains(out, "missing") {
			t.Errorf("exit %d, want 1 with the missing password file named:\n%s", code, out)
		}
		if treeDigest(t, cluster) != before {
			t.Error("the refused cluster was changed")
		}
	})

	t.Run("cluster with data is kept", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(tempDir(t), "data")
		p, _ := serve(t, opts{DataDir: dataDir})
		insertDoctor(t, dataDir, "Dr Keep")
		stopAndCheck(t, p)
		if err := os.Remove(filepath.Join(dataDir, "postgres", marker)); err != nil {
			t.Fatal(err)
		}
		p, _ = serve(t, opts{DataDir: dataDir})
		var n int
		if err := embeddedConn(t, dataDir, "healthcare").QueryRow(context.Background(), "SELECT count(*) FROM doctors WHERE name = 'Dr Keep'").Scan(&n); err != nil || n != 1 {
			t.Errorf("the row is gone (count %d, %v): a cluster holding data was re-initialised", n, err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "postgres", marker)); err != nil {
			t.Errorf("first boot not marked complete: %v", err)
		}
		stopAndCheck(t, p)
	})
}
