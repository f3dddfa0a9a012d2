package database

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema's history: one file per change, numbered from 0001 without gaps. Each file runs once,
// in its own transaction, so it must not hold BEGIN/COMMIT or statements that cannot run inside a
// transaction (CREATE INDEX CONCURRENTLY). An applied file is never edited: its checksum is
// recorded and a changed file is refused.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one numbered schema change, app/database/migrations/NNNN_name.sql.
type Migration struct {
	Version  int
	Name     string // the file name between the number and ".sql", e.g. "baseline"
	Checksum string // SHA-256 of the file, hex
	SQL      string
}

// File is the migration's file name, e.g. "0001_baseline.sql".
func (m Migration) File() string { return fmt.Sprintf("%04d_%s.sql", m.Version, m.Name) }

// MigrationState is a migration and whether the database has it. Status lists every migration this
// program knows and every one the database has recorded.
type MigrationState struct {
	Migration
	Applied bool
	// AppliedAt is when it was recorded; zero for the baseline of a database made before versioned
	// migrations, which the next Migrate records.
	AppliedAt time.Time
	// Modified: applied with another checksum, so the file changed after it was applied.
	Modified bool
	// Unknown: recorded by a newer release; this program has no such file (SQL is empty).
	Unknown bool
}

// MigrateOptions adjust Migrate.
type MigrateOptions struct {
	Target int // the version to reach; 0 means the latest
	// BeforeUpgrade is called once, under the lock, before the first pending migration runs on a
	// database that already holds a schema (not on an empty one): the place for an automatic
	// backup. An error stops Migrate before anything changes. Nil: nothing is called.
	BeforeUpgrade func(ctx context.Context, pending []Migration) error
	Log           *slog.Logger // nil: no log
}

// baselineTables are the tables of 0001_baseline.sql: a database holding all of them and no
// schema_migrations table was made by a release before versioned migrations.
var baselineTables = []string{"users", "refresh_families", "rate_limits", "doctors", "patients", "assignments"}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9][a-z0-9_]*)\.sql$`)

var embedded = sync.OnceValues(func() ([]Migration, error) { return parseMigrations(migrationFiles, "migrations") })

// Migrations returns the embedded migrations in version order. The files are checked (names,
// numbering without gaps or duplicates) on first use; a bad set is a build mistake and panics.
func Migrations() []Migration {
	ms, err := embedded()
	if err != nil {
		panic("database: " + err.Error())
	}
	return slices.Clone(ms)
}

// LatestVersion is the version of the newest embedded migration.
func LatestVersion() int { return latest(Migrations()) }

func latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// parseMigrations reads dir of fsys: every file must be NNNN_name.sql, numbered 1, 2, 3... once each.
func parseMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the migrations: %v", err)
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql (four digits, lower-case name)", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("cannot read migration %s: %v", e.Name(), err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("migration file %s is empty", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: m[2], Checksum: hex.EncodeToString(sum[:]), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			if i > 0 && ms[i-1].Version == m.Version {
				return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].File(), m.File())
			}
			return nil, fmt.Errorf("migration %04d is missing: the files must be numbered 0001, 0002... without gaps (found %s)", i+1, m.File())
		}
	}
	return ms, nil
}

// RowQuerier runs a query returning one row: a pool, a connection or a transaction.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SchemaVersion returns the highest applied migration: 0 for a database without the schema, 1 for
// one made by a release before versioned migrations (it holds the baseline, not yet recorded).
func SchemaVersion(ctx context.Context, q RowQuerier) (int, error) {
	st, err := readState(ctx, q)
	if err != nil {
		return 0, err
	}
	return st.version(), nil
}

// MigrationStatus lists the embedded migrations with what the database has applied, and after them
// any applied migration this program does not know. It changes nothing.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	return status(ctx, pool, Migrations())
}

func status(ctx context.Context, q RowQuerier, all []Migration) ([]MigrationState, error) {
	st, err := readState(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.list(all), nil
}

// Refusal returns the error Migrate refuses a database with status states: its schema is newer than
// this program, or an applied migration differs from this program's file. Nil when this program
// can use the database or upgrade it.
func Refusal(states []MigrationState) error {
	newest, version := 0, 0
	for _, s := range states {
		if !s.Unknown {
			newest = max(newest, s.Version)
		}
		if s.Applied {
			version = max(version, s.Version)
		}
	}
	if version > newest {
		return fmt.Errorf("the database schema is version %d but this program knows only up to %d: run a newer release of healthcare, or restore a backup made by this one", version, newest)
	}
	for _, s := range states {
		if s.Modified {
			return fmt.Errorf("migration %s was changed after it was applied to this database (its checksum differs): put the file back as it was and make the change in a new migration", s.File())
		}
	}
	return nil
}

// Migrate applies the pending migrations up to o.Target, each in its own transaction, and returns
// those it applied. The whole run holds a session advisory lock (SchemaLockID) on one connection,
// so replicas starting together apply each migration once: the others wait, then find nothing to
// do. It refuses a database whose schema is newer than this program, one whose applied migrations
// differ from the embedded files, and one holding part of the baseline's tables without a record.
// A database made before versioned migrations is recorded as version 1 without change. Errors are
// one sentence and never contain a password.
func Migrate(ctx context.Context, pool *pgxpool.Pool, o MigrateOptions) ([]Migration, error) {
	return migrate(ctx, pool, Migrations(), o)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, all []Migration, o MigrateOptions) (applied []Migration, err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newest := latest(all)
	target := o.Target
	if target == 0 {
		target = newest
	}
	if target < 0 || target > newest {
		return nil, fmt.Errorf("there is no schema version %d: this program knows versions 1 to %d", o.Target, newest)
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot migrate the database schema: %v", describe(err))
	}
	defer releaseLocked(ctx, conn)
	if err := lockSchema(ctx, conn, log); err != nil {
		return nil, err
	}

	st, err := readState(ctx, conn)
	if err != nil {
		return nil, err
	}
	if !st.table {
		if err := startRecord(ctx, conn, st, all, log); err != nil {
			return nil, err
		}
		if st, err = readState(ctx, conn); err != nil {
			return nil, err
		}
	}
	if err := Refusal(st.list(all)); err != nil {
		return nil, err
	}
	current := st.version()
	if o.Target != 0 && target < current {
		return nil, fmt.Errorf("the database schema is version %d, above the requested %d, and migrations are not undone: restore a backup made at version %d instead", current, target, target)
	}
	var pending []Migration
	for _, m := range all {
		if _, ok := st.applied[m.Version]; !ok && m.Version <= target {
			pending = append(pending, m)
		}
	}
	if len(pending) == 0 {
		log.Debug("database: schema is up to date", "version", current)
		return nil, nil
	}
	if current > 0 && o.BeforeUpgrade != nil {
		if err := o.BeforeUpgrade(ctx, slices.Clone(pending)); err != nil {
			return nil, fmt.Errorf("schema version %d not upgraded: %w", current, err)
		}
	}
	for _, m := range pending {
		begin := time.Now()
		if err := applyMigration(ctx, conn, m); err != nil {
			return applied, fmt.Errorf("migration %s failed, nothing of it was applied and the schema stays at version %d: %v", m.File(), current, describe(err))
		}
		current = m.Version
		applied = append(applied, m)
		log.Info("database: migration applied", "version", m.Version, "name", m.Name,
			"took", time.Since(begin).Round(time.Millisecond).String())
	}
	return applied, nil
}

// lockSchema takes the session-level schema lock on conn, saying so when another process holds it.
func lockSchema(ctx context.Context, conn *pgxpool.Conn, log *slog.Logger) error {
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", SchemaLockID).Scan(&got); err != nil {
		return fmt.Errorf("cannot take the schema lock: %v", describe(err))
	}
	if got {
		return nil
	}
	log.Info("database: another process is changing the schema; waiting for it")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", SchemaLockID); err != nil {
		return fmt.Errorf("cannot take the schema lock: %v", describe(err))
	}
	return nil
}

// releaseLocked gives the schema lock back and the connection to the pool. A connection that may
// still hold the lock (the unlock failed) is closed instead: the server then releases the lock.
func releaseLocked(ctx context.Context, conn *pgxpool.Conn) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", SchemaLockID); err != nil {
		_ = conn.Conn().Close(uctx)
	}
	conn.Release()
}

// startRecord creates schema_migrations on a database without it. A database made by a release
// before versioned migrations (all baseline tables present) is recorded as version 1, in the same
// transaction, without touching its tables.
func startRecord(ctx context.Context, conn *pgxpool.Conn, st state, all []Migration, log *slog.Logger) error {
	if n := len(st.baseline); n > 0 && n < len(baselineTables) {
		return fmt.Errorf("the database holds some of healthcare's tables (%s) but not the others and no schema_migrations table: use an empty database, or restore a backup", strings.Join(st.baseline, ", "))
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", SchemaLockID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return err
		}
		if st.legacy && len(all) > 0 {
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				all[0].Version, all[0].Name, all[0].Checksum)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot create the schema_migrations table: %v", describe(err))
	}
	if st.legacy {
		log.Info("database: schema made before versioned migrations recorded as version 1", "migration", all[0].File())
	}
	return nil
}

// applyMigration runs m and records it in one transaction that also holds the schema lock.
func applyMigration(ctx context.Context, conn *pgxpool.Conn, m Migration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", SchemaLockID); err != nil {
			return err
		}
		// No arguments: the simple protocol, so the file may hold many statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			m.Version, m.Name, m.Checksum)
		return err
	})
}

// state is what the database records about its schema.
type state struct {
	table    bool              // schema_migrations exists
	applied  map[int]appliedAs // its rows
	baseline []string          // the baseline tables that exist
	legacy   bool              // no schema_migrations but every baseline table: made before versioned migrations
}

type appliedAs struct {
	name, checksum string
	at             time.Time
}

// list is the status of all: each with what the database recorded, then the recorded versions
// all does not have.
func (s state) list(all []Migration) []MigrationState {
	var out []MigrationState
	for _, m := range all {
		ms := MigrationState{Migration: m}
		if a, ok := s.applied[m.Version]; ok {
			ms.Applied, ms.AppliedAt, ms.Modified = true, a.at, a.checksum != m.Checksum
		} else if s.legacy && m.Version == 1 {
			ms.Applied = true
		}
		out = append(out, ms)
	}
	for _, v := range s.versions() {
		if v > latest(all) {
			a := s.applied[v]
			out = append(out, MigrationState{Migration: Migration{Version: v, Name: a.name, Checksum: a.checksum},
				Applied: true, AppliedAt: a.at, Unknown: true})
		}
	}
	return out
}

func (s state) versions() []int {
	vs := make([]int, 0, len(s.applied))
	for v := range s.applied {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func (s state) version() int {
	if s.legacy {
		return 1
	}
	if vs := s.versions(); len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return 0
}

func readState(ctx context.Context, q RowQuerier) (state, error) {
	st := state{applied: map[int]appliedAs{}}
	fail := func(err error) (state, error) {
		return state{}, fmt.Errorf("cannot read the database's schema version: %v", describe(err))
	}
	// Names resolve through search_path, as the unqualified names in the migrations do.
	err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL,
		coalesce(array_agg(t ORDER BY o) FILTER (WHERE to_regclass(t) IS NOT NULL), '{}')
		FROM unnest($1::text[]) WITH ORDINALITY AS b(t, o)`, baselineTables).Scan(&st.table, &st.baseline)
	if err != nil {
		return fail(err)
	}
	if !st.table {
		st.legacy = len(st.baseline) == len(baselineTables)
		return st, nil
	}
	// One row (a JSON array) keeps this on RowQuerier, so a transaction or a pool can ask.
	var rows []struct {
		Version  int       `json:"version"`
		Name     string    `json:"name"`
		Checksum string    `json:"checksum"`
		At       time.Time `json:"applied_at"`
	}
	err = q.QueryRow(ctx, `SELECT coalesce(json_agg(m ORDER BY version), '[]') FROM schema_migrations m`).Scan(&rows)
	if err != nil {
		return fail(err)
	}
	for _, r := range rows {
		st.applied[r.Version] = appliedAs{name: r.Name, checksum: r.Checksum, at: r.At}
	}
	return st, nil
}
