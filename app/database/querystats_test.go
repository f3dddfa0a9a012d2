//go:build unix

package database_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"
)

// TestQueryStatsCountsRoundTrips: a traced pool counts a query, a batch and a COPY as one round
// trip each, every statement by its text (a batch's two as well, and two that begin alike apart),
// and lists them with their counts; values never appear, only the statement text.
func TestQueryStatsCountsRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := embeddedConfig("")
	cfg.Database.URL = dbtest.URL(t)
	q := database.NewQueryStats()
	db, err := database.Connect(ctx, cfg, nil, database.WithQueryStats(q))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE traced (v text)`); err != nil {
		t.Fatal(err)
	}
	before := q.RoundTrips()
	for range 3 {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO traced VALUES ($1)`, "secret value"); err != nil {
			t.Fatal(err)
		}
	}
	var b pgx.Batch
	b.Queue(`SELECT count(*) FROM traced`)
	b.Queue(`SELECT count(*) FROM traced WHERE v = $1`, "secret value")
	if err := db.Pool.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"traced"}, []string{"v"}, pgx.CopyFromRows([][]any{{"a"}, {"b"}})); err != nil {
		t.Fatal(err)
	}
	// Two statements that begin alike, beyond a label's length, stay two lines.
	long := `SELECT count(*) FROM traced WHERE v IS NOT NULL AND v <> 'a long condition that fills the label up' AND `
	for _, tail := range []string{"true", "1 = 1"} {
		if _, err := db.Pool.Exec(ctx, long+tail); err != nil {
			t.Fatal(err)
		}
	}
	before += 2
	if n := q.RoundTrips() - before; n != 5 {
		t.Fatalf("%d round trips for 3 queries, a batch and a COPY, want 5", n)
	}
	var sb strings.Builder
	if _, err := q.WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"round_trips ",
		"         3 ", "INSERT INTO traced VALUES ($1)",
		"SELECT count(*) FROM traced WHERE v = $1", "(batch)", `COPY "traced"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "a long condition that fills"); n != 2 {
		t.Errorf("%d lines for two statements that begin alike, want 2:\n%s", n, out)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("the table shows a value:\n%s", out)
	}
}
