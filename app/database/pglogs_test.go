package database_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcare/app/database"
)

var rotatedName = regexp.MustCompile(`^postgres-[0-9]{8}-[0-9]{6}\.log$`)

func rotatedFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if rotatedName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// TestPostgresLogRotates: the embedded server's log goes into postgres-<time>.log files that
// PostgreSQL rotates by size; PruneLogs keeps the current file and log_keep older ones and touches
// nothing else (issue 16, item 10).
func TestPostgresLogRotates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir, NoSync: true, LogRotationKB: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Names have one-second resolution: log 40 kB (two rotations' worth) in each of four seconds.
	for i := range 4 {
		if _, err := conn.Exec(ctx, `DO $$ BEGIN FOR i IN 1..200 LOOP RAISE LOG 'rotation filler %', repeat('x', 200); END LOOP; END $$`); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			time.Sleep(1100 * time.Millisecond)
		}
	}
	// The logging collector writes behind: wait until it has written everything (no new file for
	// a second and a half).
	var files []string
	for deadline, stable := time.Now().Add(15*time.Second), time.Now(); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		now := rotatedFiles(t, dir)
		if len(now) != len(files) {
			files, stable = now, time.Now()
		} else if len(files) >= 4 && time.Since(stable) > 1500*time.Millisecond {
			break
		}
	}
	if len(files) < 4 {
		t.Fatalf("PostgreSQL's log was not rotated by size: %v", files)
	}
	for _, f := range files {
		if st, _ := os.Stat(filepath.Join(dir, f)); st.Mode().Perm() != 0o600 || st.Size() > 64<<10 {
			t.Errorf("%s: mode %04o, %d bytes", f, st.Mode().Perm(), st.Size())
		}
	}
	if info := srv.Info(); info.LogFile != filepath.Join(dir, database.RotatedLogGlob) {
		t.Errorf("Info.LogFile = %s", info.LogFile)
	}

	// Files that only look alike stay, as do postgres.log and everything else.
	decoys := []string{"postgres-notes.log", "postgres-20260101-000000.log.gz", "postgres.log.1", "postgres-2026.log"}
	for _, d := range decoys {
		if err := os.WriteFile(filepath.Join(dir, d), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := database.PruneLogs(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	left := rotatedFiles(t, dir)
	if len(left) != 2 || n != len(files)-2 || left[1] != files[len(files)-1] {
		t.Errorf("after PruneLogs(keep 1): removed %d, left %v of %v", n, left, files)
	}
	for _, d := range append(decoys, "postgres.secret", "postgres") {
		if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
			t.Errorf("PruneLogs removed %s", d)
		}
	}
	// The server keeps logging into its current file.
	if _, err := conn.Exec(ctx, `DO $$ BEGIN RAISE LOG 'after pruning'; END $$`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b, _ := os.ReadFile(filepath.Join(dir, left[1]))
	if !strings.Contains(string(b), "after pruning") {
		t.Errorf("the current log file %s lacks the newest line", left[1])
	}
}

// TestFailedDownloadLeavesNoTempFile: the PostgreSQL download (embedded-postgres) leaves no
// embedded_postgres_log* file in the system temp directory, also when it fails (issue 16, item 12).
func TestFailedDownloadLeavesNoTempFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // not parallel: TMPDIR is the process's
	repo := httptest.NewServer(http.NotFoundHandler())
	defer repo.Close()
	dataDir := t.TempDir()
	err := database.DownloadBinariesFrom(context.Background(), repo.URL, 16, dataDir, filepath.Join(dataDir, "pg-binaries"))
	if err == nil {
		t.Fatal("a download from a repository that has nothing succeeded")
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		t.Errorf("left in the temp directory: %s", e.Name())
	}
}
