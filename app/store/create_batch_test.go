package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// TestConcurrentCreatesShareACommit: patients created at once by several accounts are written
// together (fewer transactions than patients), every caller gets its own patient back with its
// own audit row, and a phone number two callers use at once in one batch gives one of them the
// unique violation while every other patient of that batch is still written, once.
func TestConcurrentCreatesShareACommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)
	alice, bob := newUser(t, st, "alice", store.RoleStaff), newUser(t, st, "bob", store.RoleStaff)

	type result struct {
		owner store.Actor
		phone string
		p     store.Patient
		err   error
	}
	// create runs n creations at once (phone numbers from base, alternating owners) and, when dup
	// is not "", one more of bob's with phone number dup, and returns their results.
	create := func(base, n int, dup string) []result {
		calls := n
		if dup != "" {
			calls++
		}
		res := make([]result, calls)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range calls {
			owner, phone := alice, strconv.Itoa(base+i)
			if i%2 == 1 {
				owner = bob
			}
			if i == n {
				owner, phone = bob, dup
			}
			res[i] = result{owner: owner, phone: phone}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				uid := owner.UserID
				ev := &store.AuditEvent{UserID: &uid, Username: "u", Action: "create", Resource: "patient", Status: 201,
					RequestID: "req-" + phone + "-" + strconv.FormatInt(uid, 10)}
				res[i].p, res[i].err = st.CreatePatient(ctx, store.OwnPatients(owner), patient("P "+phone, phone), ev)
			}()
		}
		start.Done()
		wg.Wait()
		return res
	}

	// Round 0 reuses a phone number; later rounds run until one was batched.
	batched := false
	for round := 0; round < 20 && (round < 2 || !batched); round++ {
		dup := ""
		if round == 0 {
			dup = strconv.Itoa(1000*(round+1) + 1) // bob's second creation's
		}
		res := create(1000*(round+1), 40, dup)
		failed := 0
		for _, r := range res {
			if r.err != nil {
				var pgErr *pgconn.PgError
				if !errors.As(r.err, &pgErr) || pgErr.ConstraintName != store.PatientOwnerPhoneKey {
					t.Fatalf("create %s: %v", r.phone, r.err)
				}
				failed++
				continue
			}
			wantOwner := "alice"
			if r.owner == bob {
				wantOwner = "bob"
			}
			if r.p.PhoneNumber != r.phone || r.p.Name != "P "+r.phone || r.p.ManagedBy != wantOwner || r.p.ID == 0 {
				t.Fatalf("create %s for %s answered %+v", r.phone, wantOwner, r.p)
			}
			// Its own audit row names it.
			var rid string
			err := pool.QueryRow(ctx, `SELECT request_id FROM audit_log WHERE patient_id = $1 AND resource_id = $2 AND status = 201`,
				r.p.ID, strconv.FormatInt(r.p.ID, 10)).Scan(&rid)
			if want := fmt.Sprintf("req-%s-%d", r.phone, r.owner.UserID); err != nil || rid != want {
				t.Fatalf("patient %d: audit row %q, %v; want %q", r.p.ID, rid, err, want)
			}
		}
		if want := 0; round == 0 {
			want = 1
			if failed != want {
				t.Fatalf("round %d: %d calls failed, want the one that reused a phone number", round, failed)
			}
		} else if failed != want {
			t.Fatalf("round %d: %d calls failed", round, failed)
		}
		// Every patient once, every audit row once.
		var patients, rows, xacts int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM patients WHERE phone_number ~ $1`,
			"^"+strconv.Itoa(round+1)+"[0-9]{3}$").Scan(&patients, &xacts); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log a JOIN patients p ON p.id = a.patient_id
			WHERE p.phone_number ~ $1`, "^"+strconv.Itoa(round+1)+"[0-9]{3}$").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if patients != 40 || rows != 40 {
			t.Fatalf("round %d: %d patients and %d audit rows, want 40 each", round, patients, rows)
		}
		batched = xacts < patients
	}
	if !batched {
		t.Fatal("in 20 rounds of 40 creations at once, every patient had a transaction of its own: creations are not batched")
	}

	// A phone number the owner already has, among creations at once: that one gets the unique
	// violation, the others are made.
	res := create(90000, 30, "1001") // bob's "1001" was made in round 0
	var pgErr *pgconn.PgError
	if last := res[len(res)-1]; !errors.As(last.err, &pgErr) || pgErr.ConstraintName != store.PatientOwnerPhoneKey {
		t.Fatalf("a second patient of bob's with phone number 1001: %v, want the unique violation", last.err)
	}
	for _, r := range res[:len(res)-1] {
		if r.err != nil {
			t.Fatalf("create %s beside a repeated phone number: %v", r.phone, r.err)
		}
	}
}

// TestCreateOfAGoneCallerIsNotMade: a creation whose caller's context has ended before its batch
// began writes nothing, audit row included.
func TestCreateOfAGoneCallerIsNotMade(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)
	alice := newUser(t, st, "alice", store.RoleStaff)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	uid := alice.UserID
	ev := &store.AuditEvent{UserID: &uid, Username: "alice", Action: "create", Resource: "patient", Status: 201, RequestID: "r1"}
	if _, err := st.CreatePatient(ctx, store.OwnPatients(alice), patient("P", "555"), ev); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled create: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // a batch, had one begun, has ended
	var patients, rows int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM patients`).Scan(&patients)
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE request_id = 'r1'`).Scan(&rows)
	if patients != 0 || rows != 0 {
		t.Fatalf("the caller was gone, yet %d patient(s) and %d audit row(s) were written", patients, rows)
	}
}

// TestBlockedCreateHoldsUpNobodyElse: a creation that waits for a lock (another transaction is
// inserting the same owner and phone number) fails or waits alone: the creations batched with it
// are made.
func TestBlockedCreateHoldsUpNobodyElse(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st := store.New(pool, 2*time.Second)
	alice, bob := newUser(t, st, "alice", store.RoleStaff), newUser(t, st, "bob", store.RoleStaff)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		VALUES ($1, 'x', 1, 'F', 'a', '1'), ($1, 'y', 1, 'F', 'a', '2')`, alice.UserID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, phone := range []string{"1", "2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = st.CreatePatient(ctx, store.OwnPatients(alice), patient("x", phone), nil)
		}()
	}
	bobErrs := make([]error, 8)
	for i := range bobErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, bobErrs[i] = st.CreatePatient(ctx, store.OwnPatients(bob), patient("b", "3"+strconv.Itoa(i)), nil)
		}()
	}
	time.Sleep(4 * time.Second) // past the store's timeout: alice's creations gave up
	_ = tx.Rollback(ctx)
	wg.Wait()
	for i, err := range bobErrs {
		if err != nil {
			t.Errorf("bob's creation %d failed because of alice's blocked rows: %v", i, err)
		}
	}
}
