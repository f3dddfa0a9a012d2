package database_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"
)

// TestSchemaSQLMatchesMigrations: schema.sql, the full schema kept for readers, describes exactly
// what the migrations build. Change both together: a new migration, and schema.sql as it results.
func TestSchemaSQLMatchesMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fromFile := emptyPool(t)
	if _, err := fromFile.Exec(ctx, dbtest.Schema(t)); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
	migrated := emptyPool(t)
	if _, err := database.Migrate(ctx, migrated, database.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	want, got := describeSchema(t, migrated), describeSchema(t, fromFile)
	if len(want) < 30 {
		t.Fatalf("the description is too short to mean anything:\n%s", strings.Join(want, "\n"))
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			t.Errorf("schema.sql lacks what the migrations make: %s", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			t.Errorf("schema.sql has what the migrations do not make: %s", l)
		}
	}
}

// describeSchema lists the public schema's relations, columns (in order, with type, default,
// nullability, identity), constraints, indexes, triggers and functions, and the database's
// extensions with their schema, one line each, leaving out the migrations' own bookkeeping table.
func describeSchema(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	const public = `c.relnamespace = 'public'::regnamespace AND c.relname NOT IN ('schema_migrations', 'schema_migrations_pkey')`
	queries := []string{
		`SELECT format('relation %s kind %s', c.relname, c.relkind) FROM pg_class c WHERE ` + public,
		`SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s',
			c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity, a.attgenerated)
		 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		 WHERE ` + public + ` AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped`,
		`SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
		 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE ` + public,
		`SELECT format('index %s %s', c.relname, pg_get_indexdef(i.indexrelid))
		 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE ` + public,
		`SELECT format('trigger %s.%s %s', c.relname, g.tgname, pg_get_triggerdef(g.oid))
		 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal AND ` + public,
		`SELECT format('function %s %s', p.proname, pg_get_functiondef(p.oid))
		 FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace`,
		// Extensions other than the built-in plpgsql, with the schema that holds their objects
		// (pg_trgm in "extensions", whose contents belong to the extension and are not listed).
		`SELECT format('extension %s schema %s', e.extname, e.extnamespace::regnamespace)
		 FROM pg_extension e WHERE e.extname <> 'plpgsql'`,
		`SELECT format('sequence %s %s', c.relname, pg_get_serial_sequence(d.refobjid::regclass::text, a.attname))
		 FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype IN ('a', 'i')
		 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		 WHERE c.relkind = 'S' AND ` + public,
	}
	var out []string
	for _, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}
