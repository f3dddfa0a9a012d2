package database_test

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"
)

// schemaBeforeMigrations is schema.sql as the last release before versioned migrations applied it
// at every start (git show 0fdd1b6:schema.sql).
//
//go:embed testdata/schema-0fdd1b6.sql
var schemaBeforeMigrations string

// emptyPool is a pool on a fresh database without any schema.
func emptyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// withExtra is the embedded migrations plus one more, as a later release would have them.
func withExtra(sql string) []database.Migration {
	all := database.Migrations()
	return append(all, database.Migration{Version: len(all) + 1, Name: "extra", Checksum: "c0ffee", SQL: sql})
}

// hook records BeforeUpgrade's calls.
type hook struct {
	mu    sync.Mutex
	calls [][]database.Migration
	err   error
}

func (h *hook) before(_ context.Context, pending []database.Migration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, pending)
	return h.err
}

func versions(ms []database.Migration) []int {
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func schemaVersion(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	v, err := database.SchemaVersion(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEmbeddedMigrations(t *testing.T) {
	ms := database.Migrations()
	if len(ms) == 0 || ms[0].File() != "0001_baseline.sql" {
		t.Fatalf("first migration: %+v", ms)
	}
	for i, m := range ms {
		if m.Version != i+1 || len(m.Checksum) != 64 || m.SQL == "" {
			t.Errorf("migration %d: version %d, checksum %q, %d bytes of SQL", i, m.Version, m.Checksum, len(m.SQL))
		}
	}
	if database.LatestVersion() != len(ms) {
		t.Errorf("LatestVersion %d, %d migrations", database.LatestVersion(), len(ms))
	}
	ms[0].Name = "changed" // a copy: the next caller is not affected
	if database.Migrations()[0].Name != "baseline" {
		t.Error("Migrations returns its own slice")
	}
}

func TestParseMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []int  // versions, when valid
		err   string // part of the error, when not
	}{
		{"sorted whatever the order", map[string]string{"0002_b.sql": "B", "0001_a.sql": "A", "0003_c_d.sql": "C"}, []int{1, 2, 3}, ""},
		{"gap", map[string]string{"0001_a.sql": "A", "0003_c.sql": "C"}, nil, "migration 0002 is missing"},
		{"not from one", map[string]string{"0002_b.sql": "B"}, nil, "migration 0001 is missing"},
		{"duplicate number", map[string]string{"0001_a.sql": "A", "0002_b.sql": "B", "0002_c.sql": "C"}, nil, "0002_b.sql and 0002_c.sql have the same number"},
		{"short number", map[string]string{"1_a.sql": "A"}, nil, "1_a.sql is not named NNNN_name.sql"},
		{"upper case", map[string]string{"0001_Add.sql": "A"}, nil, "0001_Add.sql is not named"},
		{"empty file", map[string]string{"0001_a.sql": " \n"}, nil, "0001_a.sql is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, s := range tc.files {
				fsys["m/"+n] = file(s)
			}
			ms, err := database.ParseMigrations(fsys, "m")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(versions(ms)); got != fmt.Sprint(tc.want) {
				t.Fatalf("versions %s, want %v", got, tc.want)
			}
		})
	}
}

func TestMigrateEmptyDatabase(t *testing.T) {
	t.Parallel()
	pool := emptyPool(t)
	ctx := context.Background()
	if v := schemaVersion(t, pool); v != 0 {
		t.Fatalf("empty database: version %d", v)
	}
	h := &hook{}
	applied, err := database.Migrate(ctx, pool, database.MigrateOptions{BeforeUpgrade: h.before})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(versions(applied)) != fmt.Sprint(versions(database.Migrations())) {
		t.Fatalf("applied %v", versions(applied))
	}
	if len(h.calls) != 0 {
		t.Fatalf("BeforeUpgrade called on an empty database: %v", h.calls)
	}
	if v := schemaVersion(t, pool); v != database.LatestVersion() {
		t.Fatalf("version %d", v)
	}
	st, err := database.MigrationStatus(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Applied || s.AppliedAt.IsZero() || s.Modified || s.Unknown {
			t.Errorf("status %+v", s)
		}
	}
	var checksum string
	if err := pool.QueryRow(ctx, "SELECT checksum FROM schema_migrations WHERE version = 1").Scan(&checksum); err != nil || checksum != database.Migrations()[0].Checksum {
		t.Fatalf("recorded checksum %q (%v)", checksum, err)
	}
	// The session lock is given back.
	var locks int
	pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&locks)
	if locks != 0 {
		t.Fatalf("%d advisory locks left", locks)
	}
	// Again: nothing to do, nothing called.
	applied, err = database.Migrate(ctx, pool, database.MigrateOptions{BeforeUpgrade: h.before})
	if err != nil || len(applied) != 0 || len(h.calls) != 0 {
		t.Fatalf("second run: applied %v, %v, hook calls %d", versions(applied), err, len(h.calls))
	}
}

// TestMigrateAdoptsInstallBeforeMigrations: a database made by the last release before versioned
// migrations is recorded as version 1 and its data is untouched.
func TestMigrateAdoptsInstallBeforeMigrations(t *testing.T) {
	t.Parallel()
	pool := emptyPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, schemaBeforeMigrations); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash) VALUES ('alice', 'alice@example.org', 'argon2id$x');
		INSERT INTO doctors (name, specialization, contact_info) VALUES ('Dr Who', 'Time', 'tardis@example.org');
		INSERT INTO patients (managed_by, name, age, gender, address, phone_number) VALUES (1, 'Amy', 30, 'F', 'Leadworth', '555');
		INSERT INTO assignments (patient_id, doctor_id) VALUES (1, 1);
		INSERT INTO refresh_families (id, user_id, current_hash, expires_at) VALUES (gen_random_uuid(), 1, '\x00', now() + interval '1 day');
		INSERT INTO rate_limits (bucket, window_start, hits) VALUES ('login:1.2.3.4', now(), 3);`); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, pool)
	if v := schemaVersion(t, pool); v != 1 {
		t.Fatalf("an install before migrations reads as version %d, want 1", v)
	}
	st, err := database.MigrationStatus(ctx, pool)
	if err != nil || !st[0].Applied || !st[0].AppliedAt.IsZero() {
		t.Fatalf("status before adoption: %+v %v", st, err)
	}

	h := &hook{}
	applied, err := database.Migrate(ctx, pool, database.MigrateOptions{BeforeUpgrade: h.before})
	if err != nil {
		t.Fatal(err)
	}
	if want := versions(database.Migrations()[1:]); fmt.Sprint(versions(applied)) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", versions(applied), want)
	}
	if want := len(applied) > 0; (len(h.calls) == 1) != want {
		t.Fatalf("BeforeUpgrade calls %d with %d migrations applied", len(h.calls), len(applied))
	}
	var name, checksum string
	if err := pool.QueryRow(ctx, "SELECT name, checksum FROM schema_migrations WHERE version = 1").Scan(&name, &checksum); err != nil {
		t.Fatal(err)
	}
	if name != "baseline" || checksum != database.Migrations()[0].Checksum {
		t.Fatalf("recorded %q %q", name, checksum)
	}
	if database.LatestVersion() == 1 {
		if after := fingerprint(t, pool); after != before {
			t.Fatalf("data changed:\nbefore %s\nafter  %s", before, after)
		}
	}
	// A later release's migration: BeforeUpgrade runs once, with it, before it is applied.
	all := withExtra("ALTER TABLE doctors ADD COLUMN notes text NOT NULL DEFAULT ''")
	h = &hook{}
	applied, err = database.MigrateWith(ctx, pool, all, database.MigrateOptions{BeforeUpgrade: h.before})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || len(h.calls) != 1 || len(h.calls[0]) != 1 || h.calls[0][0].Name != "extra" {
		t.Fatalf("applied %v, hook calls %v", versions(applied), h.calls)
	}
	var doctor string
	if err := pool.QueryRow(ctx, "SELECT name || '|' || notes FROM doctors").Scan(&doctor); err != nil || doctor != "Dr Who|" {
		t.Fatalf("doctor after the upgrade: %q %v", doctor, err)
	}
}

// fingerprint hashes every row of the baseline tables.
func fingerprint(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var parts []string
	for _, table := range []string{"users", "doctors", "patients", "assignments", "refresh_families", "rate_limits"} {
		var n int
		var sum string
		if err := pool.QueryRow(context.Background(),
			"SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM "+table+" t").Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s is empty", table)
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%s", table, n, sum))
	}
	return strings.Join(parts, " ")
}

func TestBeforeUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all := withExtra("CREATE TABLE extra (id int)")

	t.Run("not on an empty database", func(t *testing.T) {
		pool := emptyPool(t)
		h := &hook{}
		applied, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{BeforeUpgrade: h.before})
		if err != nil || len(applied) != len(all) || len(h.calls) != 0 {
			t.Fatalf("applied %v, %v, hook calls %v", versions(applied), err, h.calls)
		}
	})
	t.Run("once with the pending ones", func(t *testing.T) {
		pool := dbtest.Pool(t)
		h := &hook{}
		applied, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{BeforeUpgrade: h.before})
		if err != nil || len(applied) != 1 || len(h.calls) != 1 || fmt.Sprint(versions(h.calls[0])) != fmt.Sprint([]int{len(all)}) {
			t.Fatalf("applied %v, %v, hook calls %v", versions(applied), err, h.calls)
		}
	})
	t.Run("its error stops the upgrade", func(t *testing.T) {
		pool := dbtest.Pool(t)
		h := &hook{err: errors.New("cannot write the backup: disk full")}
		applied, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{BeforeUpgrade: h.before})
		if err == nil || !strings.Contains(err.Error(), "disk full") || len(applied) != 0 {
			t.Fatalf("applied %v, %v", versions(applied), err)
		}
		if v := schemaVersion(t, pool); v != database.LatestVersion() {
			t.Fatalf("version %d after a refused upgrade", v)
		}
	})
	t.Run("target", func(t *testing.T) {
		pool := emptyPool(t)
		applied, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{Target: len(all) - 1})
		if err != nil || len(applied) != len(all)-1 {
			t.Fatalf("applied %v, %v", versions(applied), err)
		}
		st, err := database.StatusWith(ctx, pool, all)
		if err != nil || st[len(st)-1].Applied {
			t.Fatalf("status %+v %v", st, err)
		}
		if _, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{Target: len(all) + 1}); err == nil {
			t.Fatal("a target beyond the last migration was accepted")
		}
	})
}

func TestMigrationFailureChangesNothing(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	all := withExtra("CREATE TABLE half (id int); SELECT 1/0;")
	_, err := database.MigrateWith(ctx, pool, all, database.MigrateOptions{})
	if err == nil || !strings.Contains(err.Error(), all[len(all)-1].File()) || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("got %v", err)
	}
	t.Logf("refused with: %v", err)
	var exists bool
	pool.QueryRow(ctx, "SELECT to_regclass('half') IS NOT NULL").Scan(&exists)
	if exists || schemaVersion(t, pool) != database.LatestVersion() {
		t.Fatal("a failed migration left a change behind")
	}
}

func TestChecksumDriftIsRefused(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	_, err := database.Migrate(ctx, pool, database.MigrateOptions{})
	if err == nil || !strings.Contains(err.Error(), "0001_baseline.sql") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("got %v", err)
	}
	t.Logf("refused with: %v", err)
	st, err := database.MigrationStatus(ctx, pool)
	if err != nil || !st[0].Modified {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := database.Migrate(ctx, pool, database.MigrateOptions{})
	want := fmt.Sprintf("the database schema is version 9999 but this program knows only up to %d: run a newer release of healthcare, or restore a backup made by this one", database.LatestVersion())
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if v := schemaVersion(t, pool); v != 9999 {
		t.Fatalf("version %d", v)
	}
	st, err := database.MigrationStatus(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	last := st[len(st)-1]
	if last.Version != 9999 || !last.Unknown || !last.Applied || last.Name != "future" {
		t.Fatalf("status %+v", st)
	}
}

func TestPartialBaselineIsRefused(t *testing.T) {
	t.Parallel()
	pool := emptyPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE users (id int); CREATE TABLE doctors (id int)"); err != nil {
		t.Fatal(err)
	}
	_, err := database.Migrate(ctx, pool, database.MigrateOptions{})
	if err == nil || !strings.Contains(err.Error(), "(users, doctors)") {
		t.Fatalf("got %v", err)
	}
	var exists bool
	pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists)
	if exists {
		t.Fatal("schema_migrations created on a refused database")
	}
}

// TestConcurrentMigrate: eight processes (pools) migrating one empty database together: each
// migration runs once, nobody fails.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	u := dbtest.URL(t)
	ctx := context.Background()
	const n = 8
	pools := make([]*pgxpool.Pool, n)
	for i := range pools {
		p, err := pgxpool.New(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pools[i] = p
	}
	var wg sync.WaitGroup
	applied := make([][]database.Migration, n)
	errs := make([]error, n)
	h := &hook{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = database.Migrate(ctx, pools[i], database.MigrateOptions{BeforeUpgrade: h.before})
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Migrate %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != database.LatestVersion() {
		t.Errorf("%d migrations applied in all, want %d", total, database.LatestVersion())
	}
	if len(h.calls) != 0 {
		t.Errorf("BeforeUpgrade called %d times on a database that was empty", len(h.calls))
	}
	var rows, distinct int
	pools[0].QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct)
	if rows != database.LatestVersion() || distinct != rows {
		t.Errorf("schema_migrations: %d rows, %d versions", rows, distinct)
	}
}
