package importer

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSourceFromEnv: the original's DB_* settings become the connection Django made: each set one
// passed on (quotes and backslashes intact), each empty one left to PostgreSQL's defaults.
func TestSourceFromEnv(t *testing.T) {
	t.Setenv("PGHOST", "/run/postgresql-test")
	dsn, ok := SourceFromEnv(map[string]string{
		"DB_NAME": "clinic db", "DB_USER": "django", "DB_PASSWORD": `p'a\ss word`, "DB_HOST": "", "DB_PORT": "5433",
	})
	if !ok {
		t.Fatal("not ok")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("%s: %v", dsn, err)
	}
	if cfg.Database != "clinic db" || cfg.User != "django" || cfg.Password != `p'a\ss word` || cfg.Port != 5433 {
		t.Errorf("%s parsed as %s@%s:%d/%s (password %q)", dsn, cfg.User, cfg.Host, cfg.Port, cfg.Database, cfg.Password)
	}
	if cfg.Host != "/run/postgresql-test" {
		t.Errorf("an empty DB_HOST must leave libpq's default (PGHOST here), got %q", cfg.Host)
	}
	if d := Describe(dsn); d != "postgres:///clinic%20db?host=/run/postgresql-test" && d != "postgres://django@/clinic%20db?host=/run/postgresql-test" {
		t.Errorf("Describe = %q", d)
	}
	for _, env := range []map[string]string{{}, {"DB_NAME": "", "DB_USER": "django"}} {
		if _, ok := SourceFromEnv(env); ok {
			t.Errorf("%v: ok without DB_NAME", env)
		}
	}
}

func TestProgressLines(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{Step: "reading", Table: "api_patient", Done: 45000, Total: 100000}, "reading api_patient: 45,000 of 100,000 rows"},
		{Progress{Step: "checking", Finished: true}, "checking every row"},
		{Progress{Step: "writing", Table: "assignments", Total: 300000}, "writing assignments: 300,000 rows"},
		{Progress{Step: "writing", Table: "assignments", Done: 299999, Total: 299999, Finished: true}, "wrote assignments: 299,999 rows"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5: "-5"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q", n, got)
		}
	}
}
