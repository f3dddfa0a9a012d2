package maintenance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"healthcare/app/config"
	"healthcare/app/database/dbtest"
	"healthcare/app/maintenance"
	"healthcare/app/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// syncBuffer is a log destination shared by the job goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs the loop until the test ends; the returned function stops it and waits.
func start(t *testing.T, log *slog.Logger, jobs []maintenance.Job) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); maintenance.Run(ctx, log, jobs) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 10 s: %s", what)
}

// TestJobsCleanUp: the appliance's jobs, run by the loop against PostgreSQL, delete logins that
// ended over a day ago and old rate-limit windows, and keep the live ones.
func TestJobsCleanUp(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash) VALUES ('alice', 'alice@example.org', 'x');
		INSERT INTO refresh_families (id, user_id, current_hash, expires_at) VALUES
			('00000000-0000-0000-0000-000000000001', 1, '\x01', now() - interval '2 days'),
			('00000000-0000-0000-0000-000000000002', 1, '\x02', now() - interval '1 hour'),
			('00000000-0000-0000-0000-000000000003', 1, '\x03', now() + interval '1 day');
		INSERT INTO rate_limits (bucket, window_start, hits) VALUES
			('login:old', now() - interval '1 day', 5),
			('login:now', now(), 1);`); err != nil {
		t.Fatal(err)
	}
	// An external database: no PostgreSQL log files of ours to prune, only the three table clean-ups
	// (the audit retention finds nothing to remove here) and the audit trail's sealer.
	cfg := &config.Config{Database: config.Database{URL: "postgres://db.example/hc"},
		RateLimit: config.RateLimit{LoginWindow: 5 * time.Minute, RegisterWindow: time.Hour}}
	jobs := maintenance.Jobs(cfg, store.New(pool, 5*time.Second), nil)
	if len(jobs) != 4 {
		t.Fatalf("%d jobs", len(jobs))
	}
	for i := range jobs {
		if jobs[i].Name == "audit seal" {
			continue // not a clean-up: it chains what was written since it last ran
		}
		if jobs[i].Every < time.Minute {
			t.Errorf("job %q runs every %v: too often for a clean-up", jobs[i].Name, jobs[i].Every)
		}
		jobs[i].Every = 50 * time.Millisecond
	}
	start(t, nil, jobs)

	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "the old rows are deleted", func() bool {
		return count("SELECT count(*) FROM refresh_families") == 2 && count("SELECT count(*) FROM rate_limits") == 1
	})
	if n := count("SELECT count(*) FROM refresh_families WHERE id IN ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000003')"); n != 2 {
		t.Fatalf("a live or recently ended login was deleted (%d of 2 left)", n)
	}
	if n := count("SELECT count(*) FROM rate_limits WHERE bucket = 'login:now'"); n != 1 {
		t.Fatal("the current rate-limit window was deleted")
	}
}

// TestPostgresLogsPruned: with the embedded database, the loop removes PostgreSQL's rotated log
// files beyond embedded.log_keep (plus the current one), newest kept, nothing else touched (issue
// 16, item 10).
func TestPostgresLogsPruned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	var rotated []string
	for i := range 6 {
		name := fmt.Sprintf("postgres-20261130-0%d0000.log", i)
		rotated = append(rotated, name)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("log"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	others := []string{"postgres.log", "postgres.secret", "postgres-notes.log", "backup-postgres-20261130-000000.log"}
	for _, name := range others {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{DataDir: dir, Embedded: config.Embedded{LogKeep: 2},
		RateLimit: config.RateLimit{LoginWindow: 5 * time.Minute, RegisterWindow: time.Hour}}
	var prune []maintenance.Job
	for _, j := range maintenance.Jobs(cfg, nil, nil) {
		if strings.Contains(j.Name, "PostgreSQL logs") {
			if j.Every < time.Minute || j.Every > time.Hour {
				t.Errorf("job %q runs every %v", j.Name, j.Every)
			}
			j.Every = 50 * time.Millisecond
			prune = append(prune, j)
		}
	}
	if len(prune) != 1 {
		t.Fatalf("no job prunes PostgreSQL's logs in embedded mode")
	}
	start(t, nil, prune)
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	eventually(t, "old log files are removed", func() bool { return !exists(rotated[2]) })
	for i, name := range rotated {
		if want := i >= 3; exists(name) != want {
			t.Errorf("%s exists=%v, want %v", name, !want, want)
		}
	}
	for _, name := range others {
		if !exists(name) {
			t.Errorf("%s was removed", name)
		}
	}
}

// TestRunSurvivesFailures: a failing or panicking job is logged and runs again; the others go on.
func TestRunSurvivesFailures(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var failing, panicking, fine atomic.Int32
	stop := start(t, log, []maintenance.Job{
		{Name: "failing", Every: 20 * time.Millisecond, Run: func(context.Context) error {
			failing.Add(1)
			return errors.New("database unavailable")
		}},
		{Name: "panicking", Every: 20 * time.Millisecond, Run: func(context.Context) error {
			panicking.Add(1)
			panic("bug")
		}},
		{Name: "fine", Every: 20 * time.Millisecond, Run: func(context.Context) error {
			fine.Add(1)
			return nil
		}},
	})
	eventually(t, "every job runs three times", func() bool {
		return failing.Load() >= 3 && panicking.Load() >= 3 && fine.Load() >= 3
	})
	stop()
	logged := out.String()
	for _, want := range []string{`job=failing error="database unavailable"`, `job=panicking error="panic: bug"`, `job=fine`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
	// Stopped means stopped.
	n := fine.Load()
	time.Sleep(100 * time.Millisecond)
	if fine.Load() != n {
		t.Error("a job ran after Run returned")
	}
}

// TestRunSpreadsJobs: the first run comes soon but not all at once, and later runs keep roughly to
// the interval.
func TestRunSpreadsJobs(t *testing.T) {
	t.Parallel()
	const every = 200 * time.Millisecond
	begin := time.Now()
	var mu sync.Mutex
	runs := map[int][]time.Duration{}
	var jobs []maintenance.Job
	for i := range 8 {
		jobs = append(jobs, maintenance.Job{Name: "job", Every: every, Run: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			runs[i] = append(runs[i], time.Since(begin))
			return nil
		}})
	}
	stop := start(t, nil, jobs)
	time.Sleep(8 * every)
	stop()
	mu.Lock()
	defer mu.Unlock()
	firsts := map[time.Duration]bool{}
	for i := range 8 {
		r := runs[i]
		if len(r) < 3 {
			t.Fatalf("job %d ran %d times in %v with an interval of %v", i, len(r), 8*every, every)
		}
		if r[0] > every+time.Second { // the exact bound is TestDelays'; this one survives a loaded machine
			t.Errorf("job %d first ran after %v, interval %v", i, r[0], every)
		}
		firsts[r[0].Round(time.Millisecond)] = true
		for k := 1; k < len(r); k++ {
			if gap := r[k] - r[k-1]; gap < every*85/100 {
				t.Errorf("job %d: %v between runs, interval %v", i, gap, every)
			}
		}
	}
	if len(firsts) < 4 {
		t.Errorf("the first runs are not spread: %v", firsts)
	}
}
