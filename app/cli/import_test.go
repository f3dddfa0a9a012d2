//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"healthcare/app/importer/djangotest"
)

// The README's "Moving from the original system", command by command: an import into a new data
// directory (the embedded database created for it) from --from, a dry run and a second import
// from the original's DB_* settings in .env (beside the running server, which then serves the
// imported accounts with their old passwords), the original's .env alone importing into the
// original's database itself, and a refusal with the list of collisions.
func TestImportDjango(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A PostgreSQL for the original's database: another data directory's embedded server.
	hostDir := filepath.Join(tempDir(t), "host")
	serve(t, opts{DataDir: hostDir})
	admin := embeddedConn(t, hostDir, "postgres")
	for _, db := range []string{"clinic", "clash"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}
	original := embeddedConn(t, hostDir, "clinic")
	if err := djangotest.Create(ctx, original); err != nil {
		t.Fatal(err)
	}
	f, err := djangotest.Fill(ctx, original)
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(hostDir, "postgres.secret")))))
	port := strings.TrimSpace(strings.Split(string(must(os.ReadFile(filepath.Join(hostDir, "postgres", "postmaster.pid")))), "\n")[3])
	from := (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", pw), Host: "127.0.0.1:" + port, Path: "/clinic"}).String()
	dotenv := fmt.Sprintf("# the original's settings\nDB_NAME=clinic\nDB_USER=postgres\nDB_PASSWORD='%s'\nDB_HOST=127.0.0.1\nDB_PORT=%s\n", pw, port)
	table := regexp.MustCompile(`(?m)^(\w+) +← (\w+) +([\d,]+) read +([\d,]+) (?:imported|would import) +([\d,]+) here already +([\d,]+) not imported`)
	counts := func(out string) map[string]string {
		m := map[string]string{}
		for _, s := range table.FindAllStringSubmatch(out, -1) {
			m[s[1]] = strings.Join(s[3:], "/")
		}
		return m
	}
	first := map[string]string{"users": "14/12/0/2", "doctors": "4/3/0/1", "patients": "9/6/0/3", "assignments": "9/6/0/3"}
	again := map[string]string{"users": "14/0/12/2", "doctors": "4/0/3/1", "patients": "9/0/6/3", "assignments": "9/0/6/3"}

	// healthcare import django --from postgres://... --dry-run, then without: into a new data
	// directory (its database is created by the first, as 'healthcare' would at start).
	dataDir := filepath.Join(tempDir(t), "data")
	code, out := run(t, opts{DataDir: dataDir}, "import", "django", "--from", from, "--dry-run")
	if code != 0 || !equal(counts(out), first) || !strings.Contains(out, "Dry run, nothing was written: 36 rows read, 27 would be imported") {
		t.Fatalf("dry run into a new data directory: exit %d\n%s", code, out)
	}
	code, out = run(t, opts{DataDir: dataDir}, "import", "django", "--from", from)
	if code != 0 || !equal(counts(out), first) || !strings.Contains(out, "Done in ") ||
		!strings.Contains(out, "patients 3, 4: its owner, user 5 (alice), is not imported") ||
		!strings.Contains(out, "Importing from the original system's database postgres://postgres@127.0.0.1:"+port+"/clinic into the embedded database in "+dataDir) {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	t.Logf("healthcare import django --from ...:\n%s", out)
	if strings.Contains(out, pw) {
		t.Errorf("the original's password is in the output:\n%s", out)
	}

	// The original's .env in the working directory; HEALTHCARE_DATABASE_URL set empty keeps our
	// data in the embedded database (DB_* would otherwise name ours too).
	wd := tempDir(t)
	if err := os.WriteFile(filepath.Join(wd, ".env"), []byte(dotenv), 0o644); err != nil {
		t.Fatal(err)
	}
	embedded := opts{DataDir: dataDir, WorkDir: wd, Env: []string{"HEALTHCARE_DATABASE_URL="}}
	code, out = run(t, embedded, "import", "django", "--dry-run")
	if code != 0 || !equal(counts(out), again) || !strings.Contains(out, "Dry run, nothing was written") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}

	// Beside the running server: nothing new; the server serves the imported accounts.
	srv, _ := serve(t, opts{DataDir: dataDir, Port: freePort(t)})
	code, out = run(t, embedded, "import", "django")
	if code != 0 || !equal(counts(out), again) || !strings.Contains(out, "of the server running as pid") {
		t.Fatalf("import beside the server: exit %d\n%s", code, out)
	}
	alice := f.User(2)
	status, _, body := srv.request("POST", "/api/auth/login/", map[string]string{"username": alice.Username, "password": alice.Password})
	if status != 200 {
		t.Fatalf("Alice's login with her old password: %d %s", status, body)
	}
	var tok struct{ Access string }
	json.Unmarshal(body, &tok)
	status, _, body = srv.request("GET", "/api/patients/", nil, "Authorization", "Bearer "+tok.Access)
	var patients []struct{ ID int64 }
	json.Unmarshal(body, &patients)
	if status != 200 || len(patients) != 3 || patients[0].ID != 1 {
		t.Errorf("Alice's patients: %d %s", status, body)
	}
	if code, _ := srv.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("serve exit code %d", code)
	}

	// The original's .env alone: DB_* names the original's database for the import and for
	// this program too, so the data goes into it, beside the Django tables.
	code, out = run(t, opts{WorkDir: wd}, "import", "django")
	if code != 0 || !equal(counts(out), first) || !strings.Contains(out, "into postgres://postgres:redacted@127.0.0.1:"+port+"/clinic") {
		t.Fatalf("import into the original's own database: exit %d\n%s", code, out)
	}
	var n int
	original.QueryRow(ctx, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM auth_user)").Scan(&n)
	if n != 12+14 {
		t.Errorf("%d users and auth_user rows, want 26", n)
	}

	// A database whose rows collide with the original's: refused with the list, exit 1.
	clash := opts{Env: []string{"DATABASE_URL=" + strings.Replace(from, "/clinic", "/clash", 1)}}
	if code, out := run(t, clash, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, out)
	}
	if _, err := embeddedConn(t, hostDir, "clash").Exec(ctx, `INSERT INTO users (id, username, email, password_hash) VALUES (1, 'someone', 'someone@example.com', 'x')`); err != nil {
		t.Fatal(err)
	}
	code, out = run(t, clash, "import", "django", "--from", from)
	if code != 1 || !strings.Contains(out, "Refused: 1 row of the original collides with data already in this database:") ||
		!strings.Contains(out, "users: user id 1 (admin in the original) is taken here by someone") ||
		!strings.Contains(out, "healthcare: nothing was imported: 1 row of the original collides") {
		t.Errorf("collision: exit %d\n%s", code, out)
	}

	// No original named: a sentence saying how, exit 2.
	code, out = run(t, opts{DataDir: dataDir}, "import", "django")
	if code != 2 || !strings.Contains(out, "say where the original system's database is: --from postgres://") {
		t.Errorf("no source: exit %d\n%s", code, out)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
