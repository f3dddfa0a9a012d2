package backup

import (
	"context"
	"fmt"
	"os"
	"testing"

	"healthcare/app/database/dbtest"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// appTables are the tables of schema.sql, the schema the tests use (without schema_migrations, so
// recognised as version 1, the baseline).
var appTables = []string{"users", "refresh_families", "rate_limits", "doctors", "patients", "assignments", "settings", "setup_tokens", "audit_head", "audit_log", "audit_seal"}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// freshDB is a new database with schema.sql applied, as the caller of Restore prepares it.
func freshDB(t *testing.T) (*pgx.Conn, string) {
	t.Helper()
	url := dbtest.URL(t)
	conn := connect(t, url)
	exec(t, conn, dbtest.Schema(t))
	return conn, url
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// queryStrings returns the text values of a query's first column.
func queryStrings(t *testing.T, conn *pgx.Conn, q string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rowsOf returns a table's rows as text, sorted, for comparison (timestamps in UTC).
func rowsOf(t *testing.T, conn *pgx.Conn, table string) []string {
	t.Helper()
	ctx := context.Background()
	exec(t, conn, "SET TimeZone = 'UTC'")
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT x::text FROM public.%s x ORDER BY 1", pgx.Identifier{table}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, conn *pgx.Conn, table string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM public."+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertEmpty fails unless every application table of the database is empty.
func assertEmpty(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, tab := range appTables {
		if n := count(t, conn, tab); n != 0 {
			t.Errorf("table %s has %d rows, want none (nothing written)", tab, n)
		}
	}
}

func writeBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
