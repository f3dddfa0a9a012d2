package dbtest_test

import (
	"context"
	"os"
	"testing"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func TestPoolHasSchema(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if v, err := database.SchemaVersion(context.Background(), pool); err != nil || v != database.LatestVersion() {
		t.Fatalf("schema version %d (%v), want %d", v, err, database.LatestVersion())
	}
	if os.Geteuid() == 0 {
		t.Fatal("tests still run as root")
	}
}

func TestURLIsEmptyAndSeparate(t *testing.T) {
	t.Parallel()
	u1, u2 := dbtest.URL(t), dbtest.URL(t)
	if u1 == u2 {
		t.Fatal("two calls returned the same database")
	}
	conn, err := pgx.Connect(context.Background(), u1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("fresh database has %d tables", n)
	}
}

func TestSchema(t *testing.T) {
	if s := dbtest.Schema(t); len(s) < 100 {
		t.Fatalf("schema too short: %q", s)
	}
}
