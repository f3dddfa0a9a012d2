package audit_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcare/app/audit"
	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// Records from many goroutines at once all land, in far fewer statements than records (they are
// gathered), a Flush writes what was queued before it, and Close writes the rest.
func TestRecorderWritesEveryRecordInFewStatements(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st := store.New(pool, 10*time.Second)
	rec := audit.New(st, nil)

	count := func() (rows int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}

	const writers, each = 16, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", Status: 200,
					Username: "u", ResourceID: string(rune('a'+w)) + string(rune('a'+i%26))})
			}
		}()
	}
	wg.Wait()
	rec.Flush()
	if rows := count(); rows != writers*each {
		t.Fatalf("after Flush: %d rows, want %d", rows, writers*each)
	}

	// Gathered: records that trickle in (one every 2 ms) share a COPY with what arrives within the
	// gathering window, rather than one COPY (one commit) each. Every COPY is one transaction, and
	// the rows say which.
	for range 100 {
		rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "doctor", Status: 200})
		time.Sleep(2 * time.Millisecond)
	}
	rec.Flush()
	var txids int64
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT txid) FROM audit_log WHERE resource = 'doctor'`).Scan(&txids); err != nil {
		t.Fatal(err)
	}
	if txids > 60 {
		t.Errorf("100 records 2 ms apart took %d transactions: they are not gathered", txids)
	}

	// A Flush does not wait for the gathering window of a record queued just before it (it would
	// still be correct, only slower): what matters is that the record is written when Flush returns.
	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", Status: 200})
	rec.Flush()
	if rows := count(); rows != writers*each+101 {
		t.Fatalf("after the second Flush: %d rows, want %d", rows, writers*each+101)
	}

	// Close writes what is queued; a record after Close is written at once.
	for range 50 {
		rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", Status: 200})
	}
	rec.Close()
	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", Status: 200})
	if rows := count(); rows != writers*each+152 {
		t.Fatalf("after Close: %d rows, want %d", rows, writers*each+152)
	}
}

// A record is text a client chose (its User-Agent, the path, the username it tried). Invalid UTF-8
// and NUL, which PostgreSQL refuses in text, are stored as U+FFFD, and the other records of the
// batch land with it. A record that cannot be stored all the same (a time out of PostgreSQL's
// range, a count beyond its column's) is lost alone: its batch is written record by record.
func TestRecorderHostileRecordsLoseNothingElse(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st := store.New(pool, 10*time.Second)
	rec := audit.New(st, nil)
	defer rec.Close()

	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", ResourceID: "1", Status: 200})
	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", ResourceID: "2\xff", Status: 200,
		Username: "nul\x00name", UserAgent: "agent\xfe\xff", Address: "10.0.0.1", Filters: []string{"a\x00"}})
	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", ResourceID: "3", Status: 200,
		At: time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)})
	huge := 1 << 40 // no int4 holds it: refused before the database
	rec.Record(ctx, store.AuditEvent{Action: "list", Resource: "patient", ResourceID: "5", Status: 200, Count: &huge})
	rec.Record(ctx, store.AuditEvent{Action: "read", Resource: "patient", ResourceID: "4", Status: 200})
	rec.Flush()

	rows, err := pool.Query(ctx, `SELECT resource_id, username, user_agent, filters FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, user, agent string
		var filters []string
		if err := rows.Scan(&id, &user, &agent, &filters); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+"|"+user+"|"+agent+"|"+strings.Join(filters, ","))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"1|||", "2\uFFFD|nul\uFFFDname|agent\uFFFD|a\uFFFD", "4|||"}
	if !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
}
