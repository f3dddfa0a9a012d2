package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// The batch path encodes rows itself (COPY's binary format); the single-row path goes through
// pgx's encoding. The same events written both ways are stored alike, for every kind of value:
// NULL and set ids and counts, empty and several filters, text beyond ASCII and hostile bytes,
// times before and after PostgreSQL's epoch to the microsecond.
func TestAuditBatchStoresAsOneByOne(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st := store.New(pool, 10*time.Second)
	id, patient, zero, count := int64(42), int64(-7), 0, 1000
	events := []store.AuditEvent{
		{At: time.Date(2026, 11, 30, 10, 0, 0, 123456000, time.UTC), UserID: &id, Username: "alice", Action: "read",
			Resource: "patient", ResourceID: "17", PatientID: &patient, Status: 200, Address: "10.0.0.1",
			RequestID: "r1", UserAgent: "Mozilla/5.0"},
		{At: time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.FixedZone("x", 3600)), Action: "list", Resource: "patient",
			Count: &count, Filters: []string{"gender", "search", "ordering"}, Status: 200},
		{At: time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), Action: "login_failed", Username: "Zoë 日本 \xff\x00", Count: &zero,
			Filters: []string{""}, Status: 401, UserAgent: strings.Repeat("é", 100)},
		{At: time.Date(2200, 6, 1, 0, 0, 0, 0, time.UTC), Action: "export", Resource: "audit", Status: 599},
	}
	for _, e := range events {
		e := e
		e.ResourceID += "/one"
		if err := st.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	batch := make([]store.AuditEvent, len(events))
	copy(batch, events)
	for i := range batch {
		batch[i].ResourceID += "/batch"
	}
	if err := st.AppendAuditBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT at, user_id, username, action, resource, resource_id, patient_id, row_count,
		filters, status, client_address, request_id, user_agent FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.At, &e.UserID, &e.Username, &e.Action, &e.Resource, &e.ResourceID, &e.PatientID,
			&e.Count, &e.Filters, &e.Status, &e.Address, &e.RequestID, &e.UserAgent); err != nil {
			t.Fatal(err)
		}
		e.ResourceID = strings.TrimSuffix(strings.TrimSuffix(e.ResourceID, "/one"), "/batch")
		got = append(got, fmt.Sprintf("%s %v %q %s %s %s %v %v %q %d %s %s %q", e.At.UTC().Format(time.RFC3339Nano),
			deref(e.UserID), e.Username, e.Action, e.Resource, e.ResourceID, deref(e.PatientID), derefInt(e.Count),
			e.Filters, e.Status, e.Address, e.RequestID, e.UserAgent))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(events) {
		t.Fatalf("%d rows, want %d", len(got), 2*len(events))
	}
	for i := range events {
		if got[i] != got[len(events)+i] {
			t.Errorf("event %d:\none by one %s\nin a batch %s", i, got[i], got[len(events)+i])
		}
	}
	if want := `2026-11-30T10:00:00.123456Z 42 "alice" read patient 17 -7 <nil> [] 200 10.0.0.1 r1 "Mozilla/5.0"`; got[len(events)] != want {
		t.Errorf("first batch row %s, want %s", got[len(events)], want)
	}
	// And as PostgreSQL has them, which pgx's scan could hide (an array's lower bound, say).
	var asText []string
	rows, err = pool.Query(ctx, `SELECT row(at, user_id, username, action, resource, patient_id, row_count, filters,
		array_lower(filters, 1), status, client_address, request_id, user_agent)::text FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		asText = append(asText, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if asText[i] != asText[len(events)+i] {
			t.Errorf("event %d as PostgreSQL has it:\none by one %s\nin a batch %s", i, asText[i], asText[len(events)+i])
		}
	}
	if !strings.Contains(asText[len(events)+1], `"{gender,search,ordering}",1,`) {
		t.Errorf("filters of the second batch row: %s", asText[len(events)+1])
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
