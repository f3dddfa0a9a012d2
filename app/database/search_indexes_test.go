package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"
)

// TestSearchIndexesNeedNotBeCreatable: a role that may create tables in public but not a schema
// or an extension in the database (an external PostgreSQL set up by its administrator) still gets
// the whole schema: migration 0005 leaves the search indexes out and searches read every row. Once
// the role may create pg_trgm, running 0005's file again adds them.
func TestSearchIndexesNeedNotBeCreatable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	super, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	role, password := "limited_"+hex.EncodeToString(b), hex.EncodeToString(b)
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'",
		"GRANT USAGE, CREATE ON SCHEMA public TO " + role,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(role, password)
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{}); err != nil {
		t.Fatalf("Migrate without the right to create pg_trgm: %v", err)
	}
	if v := schemaVersion(t, pool); v != database.LatestVersion() {
		t.Fatalf("version %d", v)
	}
	var ext, schema bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),
		to_regnamespace('extensions') IS NOT NULL`).Scan(&ext, &schema); err != nil {
		t.Fatal(err)
	}
	if ext || schema || database.SearchIndexed(ctx, pool) {
		t.Fatalf("pg_trgm %v, schema extensions %v, indexes %v: want none", ext, schema, database.SearchIndexed(ctx, pool))
	}
	// A search is a sequential scan, with the same answer.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM patients WHERE name ILIKE '%x%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}

	// The administrator grants what pg_trgm needs (it is a trusted extension): the file again.
	if _, err := super.Exec(ctx, "GRANT CREATE ON DATABASE "+pgx.Identifier{u.Path[1:]}.Sanitize()+" TO "+role); err != nil {
		t.Fatal(err)
	}
	var sql string
	for _, m := range database.Migrations() {
		if m.Name == "search_indexes" {
			sql = m.SQL
		}
	}
	if sql == "" {
		t.Fatal("no search_indexes migration")
	}
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatalf("0005 again: %v", err)
	}
	if !database.SearchIndexed(ctx, pool) {
		t.Fatal("running 0005 again did not add the indexes")
	}
	if _, err := pool.Exec(ctx, sql); err != nil { // and again: nothing to do
		t.Fatalf("0005 a third time: %v", err)
	}
}
