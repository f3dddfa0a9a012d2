// Package importer moves a clinic in from the original Django system: it copies the original's
// users, doctors, patients and doctor assignments (auth_user, api_doctor, api_patient,
// api_patientdoctormapping) into this program's database in one transaction, keeping ids, owners,
// timestamps and password hashes (which login verifies, then replaces with ours: see
// app/auth/django.go). Like listmonk's subimporter it is a package of its own, driven by the
// command line (healthcare import django).
//
// What it guarantees:
//   - The original is only read, in one READ ONLY transaction (one consistent snapshot).
//   - All or nothing here: one transaction, with our four tables locked against writes (reads go
//     on) so that a running server cannot take an id or a username meanwhile.
//   - Rows the original allowed and this schema does not (usernames differing only in case, a
//     gender other than M/F/O...) are not imported, each with its reason; rows that need them
//     (a skipped user's patients, their assignments) follow. Nothing is silently altered: the
//     changes made to import a row (a placeholder for a missing or shared email address, a
//     password that cannot be verified) are listed.
//   - Rows already here from an earlier import of the same original are left as they are, so a
//     second run changes nothing. Any other collision with data here (an id or a unique value
//     taken) refuses the whole import, with the list.
//   - Our identity sequences move past the original's ids.
//
// A dry run does all of it and rolls back: its report is exactly what the import would do.
package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"healthcare/app/database"
)

// Options configure Run.
type Options struct {
	// Source is the original's database: postgres://user:password@host:5432/dbname or a
	// key=value string (SourceFromEnv builds one from the original's DB_* settings).
	Source string
	// DryRun rehearses the import and rolls it back.
	DryRun bool
	// Progress, when set, is told how far each step is.
	Progress func(Progress)
	// LockTimeout bounds the wait for writes a running server has in flight (0: 30 s).
	LockTimeout time.Duration
	// Log, when set, gets each statement's time at debug level.
	Log *slog.Logger
}

// Progress is the state of one step: reading one of the original's tables (Done of Total rows),
// checking the rows, or writing one of ours.
type Progress struct {
	Step        string // "reading", "checking" or "writing"
	Table       string // reading: the original's table; writing: ours
	Done, Total int64
	Finished    bool // the step's last report
}

// String is the step as a line of progress: "reading api_patient: 45,000 of 100,000 rows".
func (p Progress) String() string {
	switch {
	case p.Step == "checking":
		return "checking every row"
	case p.Step == "writing" && p.Finished:
		return fmt.Sprintf("wrote %s: %s rows", p.Table, num(p.Done))
	case p.Step == "writing":
		return fmt.Sprintf("writing %s: %s rows", p.Table, num(p.Total))
	}
	return fmt.Sprintf("reading %s: %s of %s rows", p.Table, num(p.Done), num(p.Total))
}

// Run imports the original's data through target, a connection to this program's database whose
// schema is at this release's version. It returns the report; with collisions it returns the
// report (Collisions set) and a *CollisionError, and nothing is written.
func Run(ctx context.Context, target *pgx.Conn, o Options) (*Report, error) {
	begin := time.Now()
	progress := func(step, table string, done, total int64, finished bool) {
		if o.Progress != nil {
			o.Progress(Progress{Step: step, Table: table, Done: done, Total: total, Finished: finished})
		}
	}
	srcConn, src, err := openSource(ctx, o.Source)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = src.Rollback(cctx)
		_ = srcConn.Close(cctx)
	}()
	if err := checkSource(ctx, src); err != nil {
		return nil, err
	}

	totals := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := src.QueryRow(ctx, "SELECT count(*) FROM "+t.source).Scan(&n); err != nil {
			return nil, fmt.Errorf("cannot read %s from the original database: %v", t.source, err)
		}
		totals[t.source] = n
	}
	bulk := totals["api_patient"]+totals["api_patientdoctormapping"] > bulkThreshold

	ttx, err := target.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot start the import's transaction: %v", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tx := &session{Tx: ttx, log: log}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = tx.Rollback(cctx) // after a commit: a no-op
	}()
	if bulk, err = prepareTarget(ctx, tx, o.LockTimeout, bulk); err != nil {
		return nil, err
	}

	r := &Report{DryRun: o.DryRun}
	for _, t := range tables {
		start := time.Now()
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s, %s) ON COMMIT DROP", t.temp, t.typed, judgement(t))); err != nil {
			return nil, fmt.Errorf("cannot create a temporary table: %v", err)
		}
		total := totals[t.source]
		progress("reading", t.source, 0, total, false)
		n, err := copyTable(ctx, src.Conn().PgConn(), tx.Conn().PgConn(), t, func(done int64) { progress("reading", t.source, done, total, false) })
		if err != nil {
			return nil, err
		}
		progress("reading", t.source, n, n, true)
		// Temporary tables are never analysed by autovacuum: without statistics the checks
		// below would be planned for an empty table (measured: 7 s instead of 0.3 s for one
		// check of 300,000 assignments).
		if _, err := tx.Exec(ctx, "ANALYZE "+t.temp); err != nil {
			return nil, err
		}
		r.Tables = append(r.Tables, &TableReport{Source: t.source, Target: t.target, Read: n, Took: time.Since(start)})
	}
	// Everything is read: the original's transaction ends now rather than at the end.
	_ = src.Rollback(ctx)

	progress("checking", "", 0, 0, true)
	if err := judge(ctx, tx); err != nil {
		return nil, fmt.Errorf("cannot check the original's rows: %w", err)
	}
	if r.Collisions, err = collisions(ctx, tx); err != nil {
		return nil, err
	}
	if len(r.Collisions) > 0 {
		r.Took = time.Since(begin)
		return r, &CollisionError{Report: r}
	}
	if err := describe(ctx, tx, r); err != nil {
		return nil, err
	}

	var fks []foreignKey
	if bulk && toWrite(r, "patients")+toWrite(r, "assignments") > bulkThreshold {
		if fks, err = dropForeignKeys(ctx, tx); err != nil {
			return nil, err
		}
	}
	for i, t := range tables {
		start := time.Now()
		progress("writing", t.target, 0, toWrite(r, t.target), false)
		tag, err := tx.Exec(ctx, inserts[t.target])
		if err != nil {
			return nil, fmt.Errorf("cannot write %s: %v", t.target, err)
		}
		r.Tables[i].Imported = tag.RowsAffected()
		r.Tables[i].Took += time.Since(start)
		progress("writing", t.target, tag.RowsAffected(), tag.RowsAffected(), true)
	}
	if err := restoreForeignKeys(ctx, tx, fks); err != nil {
		return nil, err
	}
	if err := moveSequences(ctx, tx, r, o.DryRun); err != nil {
		return nil, err
	}
	if !o.DryRun {
		// The import's own audit row, committed with it: what came in, never a row's content.
		var total int64
		var tables []string
		for _, t := range r.Tables {
			total += t.Imported
			tables = append(tables, t.Target)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (action, resource, username, row_count, filters, status)
			VALUES ('import', 'database', 'healthcare import django', $1, $2, 200)`, total, tables); err != nil {
			return nil, fmt.Errorf("cannot record the import in the audit trail: %v", err)
		}
	}
	if o.DryRun {
		if err := tx.Rollback(ctx); err != nil {
			return nil, err
		}
	} else if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("cannot commit the import: %v", err)
	}
	r.Took = time.Since(begin)
	return r, nil
}

// toWrite is the number of rows the checks left to write into target.
func toWrite(r *Report, target string) int64 {
	for _, t := range r.Tables {
		if t.Target == target {
			return t.Read - t.Present - int64(len(t.Skipped))
		}
	}
	return 0
}

// bulkThreshold is the number of patients and assignments above which the foreign keys of the
// tables written are checked once, after writing, instead of row by row (a query per row and key):
// measured with 100,000 patients and 300,000 assignments, the writes took about a tenth of the
// time (3 s instead of 27 s, on 2 busy cores).
const bulkThreshold = 20_000

// prepareTarget checks our schema and locks our four tables until the transaction ends, so that
// what was checked stays true until the import commits: against writes (a running server still
// reads), or for a bulk import, whose foreign keys are dropped and added again, against reads too.
// A bulk import needs to own the tables; a role that does not imports row by row: it returns
// whether the import is bulk.
func prepareTarget(ctx context.Context, tx *session, lockTimeout time.Duration, bulk bool) (bool, error) {
	version, err := database.SchemaVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("cannot read this database's schema version: %v", err)
	}
	if latest := database.LatestVersion(); version != latest {
		return false, fmt.Errorf("this database's schema is at version %d, this program's at %d: run 'healthcare migrate' with this release first", version, latest)
	}
	if bulk {
		if err := tx.QueryRow(ctx, `SELECT bool_and(pg_has_role(current_user, relowner, 'USAGE')) FROM pg_class
			WHERE oid IN ('patients'::regclass, 'assignments'::regclass)`).Scan(&bulk); err != nil {
			return false, err
		}
	}
	if lockTimeout <= 0 {
		lockTimeout = 30 * time.Second
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lockTimeout.Milliseconds())); err != nil {
		return false, err
	}
	mode := "SHARE ROW EXCLUSIVE"
	if bulk {
		mode = "ACCESS EXCLUSIVE"
	}
	_, err = tx.Exec(ctx, "LOCK TABLE users, doctors, patients, assignments IN "+mode+" MODE")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" {
		return false, fmt.Errorf("the tables stayed busy with the running server's work for %s: try again when it is quieter", lockTimeout)
	}
	if err != nil {
		return false, fmt.Errorf("cannot lock the tables for the import: %v", err)
	}
	return bulk, nil
}

// describe fills the report with what the checks decided: rows here already, rows skipped and
// why, rows changed to be imported, and notes on what this schema does not keep.
func describe(ctx context.Context, tx *session, r *Report) error {
	for i, t := range tables {
		tr := r.Tables[i]
		label := "NULL::text"
		if t.temp == "import_users" {
			label = "username"
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.temp+" WHERE present").Scan(&tr.Present); err != nil {
			return err
		}
		var err error
		if tr.Skipped, err = issues(ctx, tx, `SELECT id, `+label+`, skip FROM `+t.temp+` WHERE skip IS NOT NULL ORDER BY id`); err != nil {
			return err
		}
		if tr.Changed, err = issues(ctx, tx, `SELECT id, `+label+`, array_to_string(notes, '; ') FROM `+t.temp+`
			WHERE skip IS NULL AND NOT present AND notes <> '{}' ORDER BY id`); err != nil {
			return err
		}
	}
	var names, staff int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE first_name <> '' OR last_name <> ''),
		count(*) FILTER (WHERE is_staff AND NOT is_superuser)
		FROM import_users WHERE skip IS NULL AND NOT present`).Scan(&names, &staff); err != nil {
		return err
	}
	if names == 1 {
		r.Tables[0].Notes = append(r.Tables[0].Notes, "1 imported account has a first or last name in the original, which this system does not keep.")
	} else if names > 1 {
		r.Tables[0].Notes = append(r.Tables[0].Notes, fmt.Sprintf("%s imported accounts have a first or last name in the original, which this system does not keep.", num(names)))
	}
	if staff == 1 {
		r.Tables[0].Notes = append(r.Tables[0].Notes, "1 imported account was Django staff (admin site access) but not a superuser: it is staff here, not an administrator.")
	} else if staff > 1 {
		r.Tables[0].Notes = append(r.Tables[0].Notes, fmt.Sprintf("%s imported accounts were Django staff (admin site access) but not superusers: they are staff here, not administrators.", num(staff)))
	}
	return nil
}

func issues(ctx context.Context, tx *session, sql string) ([]Issue, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Issue, error) {
		var is Issue
		var label *string
		err := row.Scan(&is.ID, &label, &is.Reason)
		if label != nil {
			is.Label = *label
		}
		return is, err
	})
}

// moveSequences makes our identity sequences hand out ids above every id of the original
// (imported or not, so that a row fixed in the original can be imported later) and every id here.
// A sequence already past them is left alone: a second import changes nothing. setval is not
// transactional, so a dry run only reports.
func moveSequences(ctx context.Context, tx *session, r *Report, dryRun bool) error {
	for _, t := range tables {
		var seq string
		var top, last *int64
		err := tx.QueryRow(ctx, `SELECT s.seq, greatest((SELECT max(id) FROM `+t.temp+`), (SELECT max(id) FROM `+t.target+`)),
			pg_sequence_last_value(s.seq::regclass)
			FROM (SELECT pg_get_serial_sequence($1, 'id') AS seq) s`, t.target).Scan(&seq, &top, &last)
		if err != nil {
			return fmt.Errorf("cannot read the id sequence of %s: %v", t.target, err)
		}
		if top == nil || (last != nil && *last >= *top) {
			continue
		}
		if !dryRun {
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2)`, seq, *top); err != nil {
				return fmt.Errorf("cannot move the id sequence of %s: %v", t.target, err)
			}
		}
		r.NextIDs = append(r.NextIDs, NextID{Table: t.target, Next: *top + 1})
	}
	return nil
}

// foreignKey is a constraint as the catalog describes it.
type foreignKey struct{ table, name, definition string }

// dropForeignKeys drops the foreign keys of the tables the import writes to (patients,
// assignments), for restoreForeignKeys to add again, as they were, after the writes: adding one
// checks every row in one join, where the constraint in place checks each inserted row with a
// query of its own.
func dropForeignKeys(ctx context.Context, tx *session) ([]foreignKey, error) {
	rows, err := tx.Query(ctx, `SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE contype = 'f' AND conrelid IN ('patients'::regclass, 'assignments'::regclass) ORDER BY conrelid, conname`)
	if err != nil {
		return nil, err
	}
	fks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (foreignKey, error) {
		var fk foreignKey
		return fk, row.Scan(&fk.table, &fk.name, &fk.definition)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the foreign keys: %v", err)
	}
	for _, fk := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", fk.table, pgx.Identifier{fk.name}.Sanitize())); err != nil {
			return nil, fmt.Errorf("cannot set the foreign key %s aside for the import: %v", fk.name, err)
		}
	}
	return fks, nil
}

func restoreForeignKeys(ctx context.Context, tx *session, fks []foreignKey) error {
	for _, fk := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", fk.table, pgx.Identifier{fk.name}.Sanitize(), fk.definition)); err != nil {
			return fmt.Errorf("cannot restore the foreign key %s: %v", fk.name, err)
		}
	}
	return nil
}
