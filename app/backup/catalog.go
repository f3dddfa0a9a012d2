package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrationsTable records the applied schema migrations. Restore replaces its rows with the
// backup's, since the caller has filled it while creating the schema.
const migrationsTable = "schema_migrations"

// sessionSettings fixes how COPY writes and reads values (dates above all), for the current
// transaction only, and lifts the time limits a role may carry: a large backup takes a while.
const sessionSettings = `SELECT set_config('datestyle', 'ISO, YMD', true), set_config('timezone', 'UTC', true),
	set_config('intervalstyle', 'postgres', true), set_config('bytea_output', 'hex', true),
	set_config('extra_float_digits', '3', true), set_config('statement_timeout', '0', true),
	set_config('idle_in_transaction_session_timeout', '0', true)`

// table is an ordinary table of schema public and the columns COPY reads and writes (generated
// columns excluded: PostgreSQL computes them).
type table struct {
	oid     uint32
	name    string
	columns []string
}

func (t table) qualified() string { return pgx.Identifier{"public", t.name}.Sanitize() }

func (t table) columnList() string { return columnList(t.columns) }

func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// tables lists every ordinary table of schema public with its columns, parents before the tables
// whose foreign keys reference them (ties, and tables caught in a cycle, by name).
func tables(ctx context.Context, tx pgx.Tx) ([]table, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.oid, c.relname::text,
		       array(SELECT a.attname::text FROM pg_attribute a
		             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		             ORDER BY a.attnum)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.oid, &t.name, &t.columns)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid`)
	if err != nil {
		return nil, fmt.Errorf("list the foreign keys: %w", err)
	}
	type edge struct{ child, parent uint32 }
	edges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (edge, error) {
		var e edge
		err := r.Scan(&e.child, &e.parent)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the foreign keys: %w", err)
	}
	parents := map[uint32]map[uint32]bool{}
	for _, e := range edges {
		if parents[e.child] == nil {
			parents[e.child] = map[uint32]bool{}
		}
		parents[e.child][e.parent] = true
	}
	return dependencyOrder(all, parents), nil
}

// dependencyOrder sorts tables (given by name) so that each comes after the tables it references;
// among tables that are ready, the first by name goes first. Tables in a cycle follow by name.
func dependencyOrder(all []table, parents map[uint32]map[uint32]bool) []table {
	in := map[uint32]bool{}
	for _, t := range all {
		in[t.oid] = true
	}
	done := map[uint32]bool{}
	out := make([]table, 0, len(all))
	for len(out) < len(all) {
		progress := false
		for _, t := range all {
			if done[t.oid] {
				continue
			}
			ready := true
			for p := range parents[t.oid] {
				if in[p] && !done[p] {
					ready = false
					break
				}
			}
			if ready {
				done[t.oid] = true
				out = append(out, t)
				progress = true
				break // restart from the first name
			}
		}
		if !progress { // a cycle of foreign keys: the rest by name
			for _, t := range all {
				if !done[t.oid] {
					done[t.oid] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// sequences lists the sequences of schema public and the column that owns each, if any.
func sequences(ctx context.Context, tx pgx.Tx) ([]sequenceValue, error) {
	rows, err := tx.Query(ctx, `
		SELECT s.relname::text, coalesce(t.relname::text, ''), coalesce(a.attname::text, '')
		FROM pg_class s
		JOIN pg_namespace n ON n.oid = s.relnamespace
		LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
		     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
		LEFT JOIN pg_class t ON t.oid = d.refobjid
		LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		WHERE n.nspname = 'public' AND s.relkind = 'S'
		ORDER BY s.relname`)
	if err != nil {
		return nil, fmt.Errorf("list the sequences: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sequenceValue, error) {
		var s sequenceValue
		err := r.Scan(&s.Name, &s.Table, &s.Column)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the sequences: %w", err)
	}
	return seqs, nil
}

// schemaVersion is the highest version in schema_migrations when that table exists and has rows,
// else 1 (the baseline) when the baseline's tables exist.
func schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var hasMigrations, hasBaseline bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('public.schema_migrations') IS NOT NULL,
		to_regclass('public.users') IS NOT NULL`).Scan(&hasMigrations, &hasBaseline); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	if hasMigrations {
		var v *int64
		if err := tx.QueryRow(ctx, `SELECT max(version)::bigint FROM public.schema_migrations`).Scan(&v); err != nil {
			return 0, fmt.Errorf("read the schema version from schema_migrations: %w", err)
		}
		if v != nil && *v > 0 {
			return int(*v), nil
		}
	}
	if hasBaseline {
		return 1, nil
	}
	return 0, errors.New("the database holds no healthcare tables; check that you named the right database")
}

// pgReason describes a PostgreSQL error without its message, detail or context, which can quote
// row values (patient data): only the SQLSTATE and the names of the objects involved.
func pgReason(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s := "SQLSTATE " + pe.Code
	if pe.ConstraintName != "" {
		s += ", constraint " + pe.ConstraintName
	}
	if pe.ColumnName != "" {
		s += ", column " + pe.ColumnName
	}
	return s
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
