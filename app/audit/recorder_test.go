package audit_test

import (
	"context"
	"os"
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
