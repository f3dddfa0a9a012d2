package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

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
	// create runs n creations at once (phone numbers from base, alternating owners; dup extra
	// calls reuse the first phone number of bob's) and returns their results.
	create := func(base, n int, dup bool) []result {
		calls := n
		if dup {
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
			if dup && i == n {
				owner, phone = bob, strconv.Itoa(base+1)
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
		res := create(1000*(round+1), 40, round == 0)
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
}
