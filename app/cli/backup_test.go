//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backups are taken while serving, restore into an empty data directory (disaster recovery) with
// every row, password hashes and logins included, and a refused or interrupted restore leaves the
// old data serving. Every command is run as the README writes it.

var appTables = []string{"users", "refresh_families", "doctors", "patients", "assignments", "schema_migrations"}

// contents returns every row of the application tables as JSON text, in primary-key order.
func contents(t *testing.T, conn *pgx.Conn) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range appTables {
		rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT row_to_json(x)::text FROM %s x ORDER BY 1", table))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// fill creates doctors, patients and assignments through the API and returns the access token.
func fill(t *testing.T, p *proc, user string, n int) string {
	t.Helper()
	register(t, p, user)
	token := login(t, p, user)
	auth := []string{"Authorization", "Bearer " + token}
	for i := 0; i < n; i++ {
		st, _, body := p.request("POST", "/api/doctors/", map[string]any{"name": fmt.Sprintf("Dr %s %d", user, i), "specialization": "Cardiology", "contact_info": fmt.Sprintf("%s%d@clinic.example", user, i)}, auth...)
		if st != 201 {
			t.Fatalf("doctor: %d %s", st, body)
		}
		var doc struct{ ID int64 }
		jsonUnmarshal(t, body, &doc)
		st, _, body = p.request("POST", "/api/patients/", map[string]any{"name": fmt.Sprintf("Zoë \"%s\"\t%d\\n", user, i), "age": 30 + i, "gender": "O", "address": "1 Rue d'Été\nParis", "phone_number": fmt.Sprintf("+33%09d", i)}, auth...)
		if st != 201 {
			t.Fatalf("patient: %d %s", st, body)
		}
		var pat struct{ ID int64 }
		jsonUnmarshal(t, body, &pat)
		if st, _, body := p.request("POST", "/api/mappings/", map[string]any{"patient": pat.ID, "doctor": doc.ID}, auth...); st != 201 {
			t.Fatalf("mapping: %d %s", st, body)
		}
	}
	return token
}

func TestBackupWhileServingRestoresIntoAnEmptyDataDirectory(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_RATE_LIMIT_ENABLED=false"}}
	p, _ := serve(t, o)
	token := fill(t, p, "alice", 10)

	// Under write load: writers keep creating patients while `healthcare backup` runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p.requestQuiet("POST", "/api/patients/", map[string]any{"name": "Load", "age": 50, "gender": "M", "address": "x", "phone_number": fmt.Sprintf("+44%d%06d", w, i)}, "Authorization", "Bearer "+token)
			}
		}(w)
	}
	time.Sleep(200 * time.Millisecond)
	code, out := run(t, opts{DataDir: dataDir}, "backup")
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "backup written: ") {
		t.Fatalf("backup while serving: exit %d\n%s", code, out)
	}
	underLoad := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "backup written: ", 2)[1], " (", 2)[0])
	if st, err := os.Stat(underLoad); err != nil || st.Mode().Perm() != 0o600 || filepath.Dir(underLoad) != filepath.Join(dataDir, "backups") {
		t.Fatalf("backup file %s: %v %v", underLoad, st, err)
	}

	// A quiet backup of the final state, to compare every row after the restore.
	final := filepath.Join(outDir(t), "final.backup")
	if code, out := run(t, opts{DataDir: dataDir}, "backup", "--out", final); code != 0 {
		t.Fatalf("backup --out: exit %d\n%s", code, out)
	}
	want := contents(t, embeddedConn(t, dataDir, "healthcare"))
	stopAndCheck(t, p)

	// Disaster recovery: an empty data directory. Without --yes nothing happens.
	fresh := tempDir(t) + "/fresh"
	if code, out := run(t, opts{DataDir: fresh}, "restore", final); code != 2 || !strings.Contains(out, "--yes") {
		t.Fatalf("restore without --yes: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Fatal("restore without --yes created the data directory")
	}
	if code, out := run(t, opts{DataDir: fresh}, "restore", final, "--yes"); code != 0 || !strings.Contains(out, "restored ") {
		t.Fatalf("restore --yes: exit %d\n%s", code, out)
	}
	p2, _ := serve(t, opts{DataDir: fresh})
	got := contents(t, embeddedConn(t, fresh, "healthcare"))
	for _, table := range appTables {
		if strings.Join(got[table], "\n") != strings.Join(want[table], "\n") {
			t.Errorf("%s differs after restore: %d rows, want %d", table, len(got[table]), len(want[table]))
		}
	}
	// The restored password hash logs in (the token secret belongs to the old data directory, so
	// old tokens are not valid here).
	login(t, p2, "alice")
	stopAndCheck(t, p2)

	// The backup taken under load is one consistent snapshot.
	third := tempDir(t) + "/third"
	if code, out := run(t, opts{DataDir: third}, "restore", underLoad, "--yes"); code != 0 {
		t.Fatalf("restore of the backup taken under load: exit %d\n%s", code, out)
	}
	p3, _ := serve(t, opts{DataDir: third})
	var orphans int
	embeddedConn(t, third, "healthcare").QueryRow(context.Background(),
		"SELECT count(*) FROM assignments a LEFT JOIN patients p ON p.id = a.patient_id WHERE p.id IS NULL").Scan(&orphans)
	if orphans != 0 {
		t.Errorf("%d assignments without their patient", orphans)
	}
	stopAndCheck(t, p3)

	// backup --list shows the backup in <data_dir>/backups, verified.
	code, out = run(t, opts{DataDir: dataDir}, "backup", "--list")
	if code != 0 || !strings.Contains(out, filepath.Base(underLoad)) || !strings.Contains(out, " ok") {
		t.Fatalf("backup --list: exit %d\n%s", code, out)
	}
}

func TestRestoreRefusesBadFilesAndKeepsTheData(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	fill(t, p, "bob", 3)
	good := filepath.Join(outDir(t), "good.backup")
	if code, out := run(t, opts{DataDir: dataDir}, "backup", "--out", good); code != 0 {
		t.Fatalf("backup: %d\n%s", code, out)
	}
	// A backup claiming a schema newer than this release.
	conn := embeddedConn(t, dataDir, "healthcare")
	conn.Exec(context.Background(), "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')")
	newer := filepath.Join(outDir(t), "newer.backup")
	if code, out := run(t, opts{DataDir: dataDir}, "backup", "--out", newer); code != 0 {
		t.Fatalf("backup: %d\n%s", code, out)
	}
	conn.Exec(context.Background(), "DELETE FROM schema_migrations WHERE version = 999")
	before := contents(t, conn)
	stopAndCheck(t, p)

	b, _ := os.ReadFile(good)
	b[len(b)/2] ^= 0x55
	damaged := filepath.Join(tempDir(t), "damaged.backup")
	os.WriteFile(damaged, b, 0o600)
	for file, want := range map[string]string{damaged: "damaged", newer: "newer release", good + ".missing": "cannot"} {
		code, out := run(t, opts{DataDir: dataDir}, "restore", file, "--yes")
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("restore %s: exit %d, want a refusal saying %q:\n%s", filepath.Base(file), code, want, out)
		}
	}
	// While the server runs, restore refuses too.
	p, _ = serve(t, opts{DataDir: dataDir})
	if code, out := run(t, opts{DataDir: dataDir}, "restore", good, "--yes"); code == 0 || !strings.Contains(out, "stop") {
		t.Errorf("restore while serving: exit %d\n%s", code, out)
	}
	after := contents(t, embeddedConn(t, dataDir, "healthcare"))
	for _, table := range appTables {
		if strings.Join(after[table], "\n") != strings.Join(before[table], "\n") {
			t.Errorf("%s changed by a refused restore", table)
		}
	}
	login(t, p, "bob")
	stopAndCheck(t, p)
}

func TestInterruptedRestoreLeavesTheOldDataServing(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	fill(t, p, "carol", 5)
	file := filepath.Join(outDir(t), "carol.backup")
	if code, out := run(t, opts{DataDir: dataDir}, "backup", "--out", file); code != 0 {
		t.Fatalf("backup: %d\n%s", code, out)
	}
	register(t, p, "after-backup") // in the live data only
	stopAndCheck(t, p)

	r := launch(t, opts{DataDir: dataDir}, "restore", file, "--yes")
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(r.out.String(), "loading the backup into a new database"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("restore never started loading:\n%s", r.out.String())
		}
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	// Its PostgreSQL is left running: the next start stops it (it serves this cluster).

	p, _ = serve(t, opts{DataDir: dataDir})
	login(t, p, "after-backup") // the old data, untouched
	stopAndCheck(t, p)

	// Run to the end, it replaces the data and keeps the previous database beside it.
	code, out := run(t, opts{DataDir: dataDir}, "restore", file, "--yes")
	if code != 0 || !strings.Contains(out, "_before_restore_") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	p, _ = serve(t, opts{DataDir: dataDir})
	login(t, p, "carol")
	if st, _, _ := p.request("POST", "/api/auth/login/", map[string]string{"username": "after-backup", "password": password}); st != 401 && st != 400 {
		t.Errorf("a user created after the backup can still log in (%d)", st)
	}
	stopAndCheck(t, p)
}

func jsonUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// outDir is a directory the binary can write its --out file into after it switched from root to
// its unprivileged user (as an operator would pick one).
func outDir(t *testing.T) string {
	t.Helper()
	dir := tempDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestScheduledBackups: with the embedded database the server writes a backup when the newest in
// <data_dir>/backups is older than backup.schedule, keeps backup.keep of them, and a restart does
// not add one while the newest is recent.
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_BACKUP_SCHEDULE=1m", "HEALTHCARE_BACKUP_KEEP=1"}}
	p, _ := serve(t, o)
	register(t, p, "sched")
	waitLog := func(p *proc, n int) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); strings.Count(p.out.String(), `"msg":"backup written"`) < n; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled backup within 90 s:\n%s", p.out.String())
			}
		}
	}
	waitLog(p, 1)
	if !strings.Contains(p.out.String(), `"why":"scheduled"`) {
		t.Errorf("the backup is not logged as scheduled:\n%s", p.out.String())
	}
	files, _ := filepath.Glob(filepath.Join(dataDir, "backups", "healthcare-*.backup"))
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	if st, _ := os.Stat(files[0]); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode: %v", st)
	}
	stopAndCheck(t, p)
	// A restart within the schedule adds none (the first run of the job comes within 30 s).
	p, _ = serve(t, o)
	time.Sleep(35 * time.Second)
	if n := strings.Count(p.out.String(), `"msg":"backup written"`); n != 0 {
		t.Errorf("a restart wrote %d backups although the newest is recent", n)
	}
	stopAndCheck(t, p)
	if code, out := run(t, opts{DataDir: dataDir}, "backup", "--list"); code != 0 || !strings.Contains(out, filepath.Base(files[0])) {
		t.Errorf("backup --list: %d\n%s", code, out)
	}
}
