package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// login records a live login (refresh-token family) of account a and returns its id.
func login(t *testing.T, st *store.Store, a store.Actor) uuid.UUID {
	t.Helper()
	fam, now := uuid.New(), time.Now().Truncate(time.Second)
	tok := store.RefreshToken{Hash: []byte(fam.String()), JTI: "jti-" + fam.String(), IssuedAt: now, Expires: now.Add(time.Hour)}
	if err := st.CreateFamily(context.Background(), store.NewFamily{ID: fam, UserID: a.UserID, Token: tok}); err != nil {
		t.Fatal(err)
	}
	return fam
}

// TestSessionReadAnswers: the session check answers its read — a patient, or a patient's doctors
// in id order — in the read's scope, ErrNotFound for what the scope does not see, and nothing at
// all for a refused login, an account that must change its password first, or a scope that is
// not the session's account's; alone, many at once with mixed kinds (one round trip of several
// statements), and inside a transaction (one query after the other).
func TestSessionReadAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(dbtest.Pool(t), 0)
	alice, bob := newUser(t, st, "alice", store.RoleStaff), newUser(t, st, "bob", store.RoleStaff)
	withDoctors, err := st.CreatePatient(ctx, store.OwnPatients(alice), patient("With doctors", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	without, err := st.CreatePatient(ctx, store.OwnPatients(alice), patient("Without", "2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := st.CreatePatient(ctx, store.OwnPatients(bob), patient("Bob's", "3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doctors []store.Doctor
	for _, c := range []string{"d2@example.org", "d1@example.org"} {
		d, err := st.CreateDoctor(ctx, doctor(c))
		if err != nil {
			t.Fatal(err)
		}
		doctors = append(doctors, d) // ids ascending
	}
	for _, d := range doctors {
		if _, err := st.CreateAssignment(ctx, store.OwnPatients(alice), withDoctors.ID, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	live, ended := login(t, st, alice), login(t, st, alice)
	if err := st.RevokeFamily(ctx, ended, alice.UserID); err != nil {
		t.Fatal(err)
	}
	// carol must choose her own password: her session check reads nothing.
	carol := newUser(t, st, "carol", store.RoleStaff)
	carolLogin := login(t, st, carol)
	if _, err := st.Pool().Exec(ctx, `UPDATE users SET must_change_password = true WHERE id = $1`, carol.UserID); err != nil {
		t.Fatal(err)
	}
	own, clinic := store.OwnPatients(alice), store.ClinicPatients(alice)
	cases := []struct {
		name   string
		user   store.Actor
		family uuid.UUID
		read   store.SessionRead
		live   bool
		value  any
		err    error
	}{
		{"no read", alice, live, store.SessionRead{}, true, nil, nil},
		{"own patient", alice, live, store.SessionRead{Kind: store.ReadPatient, Scope: own, ID: withDoctors.ID}, true, withDoctors, nil},
		{"another's patient, own scope", alice, live, store.SessionRead{Kind: store.ReadPatient, Scope: own, ID: bobs.ID}, true, nil, store.ErrNotFound},
		{"another's patient, clinic scope", alice, live, store.SessionRead{Kind: store.ReadPatient, Scope: clinic, ID: bobs.ID}, true, bobs, nil},
		{"no such patient", alice, live, store.SessionRead{Kind: store.ReadPatient, Scope: clinic, ID: 999999}, true, nil, store.ErrNotFound},
		{"doctors", alice, live, store.SessionRead{Kind: store.ReadPatientDoctors, Scope: own, ID: withDoctors.ID}, true, doctors, nil},
		{"no doctors", alice, live, store.SessionRead{Kind: store.ReadPatientDoctors, Scope: own, ID: without.ID}, true, []store.Doctor{}, nil},
		{"another's patient's doctors", alice, live, store.SessionRead{Kind: store.ReadPatientDoctors, Scope: own, ID: bobs.ID}, true, nil, store.ErrNotFound},
		{"ended login", alice, ended, store.SessionRead{Kind: store.ReadPatient, Scope: own, ID: withDoctors.ID}, false, nil, nil},
		{"ended login, doctors", alice, ended, store.SessionRead{Kind: store.ReadPatientDoctors, Scope: own, ID: withDoctors.ID}, false, nil, nil},
		{"password to change", carol, carolLogin, store.SessionRead{Kind: store.ReadPatient, Scope: store.ClinicPatients(carol), ID: withDoctors.ID}, true, nil, nil},
		{"another account's scope", alice, live, store.SessionRead{Kind: store.ReadPatient, Scope: store.OwnPatients(bob), ID: bobs.ID}, true, nil, nil},
	}
	limits := store.SessionLimits{IdleTimeout: time.Hour}
	check := func(how string, st *store.Store, i int) error {
		tc := cases[i]
		c, err := st.UserSession(ctx, tc.user.UserID, tc.family, limits, tc.read)
		if err != nil {
			return fmt.Errorf("%s, %s: %v", how, tc.name, err)
		}
		want := store.ReadAnswer{}
		if tc.value != nil || tc.err != nil {
			want = store.ReadAnswer{Read: tc.read, Value: tc.value, Err: tc.err}
		}
		if c.Live != tc.live || c.User.ID != tc.user.UserID || !reflect.DeepEqual(c.Read, want) {
			return fmt.Errorf("%s, %s: live %v, read %+v; want live %v, read %+v", how, tc.name, c.Live, c.Read, tc.live, want)
		}
		// The check behind every request never carries the password hash.
		if c.User.PasswordHash != "" || c.User.Username == "" {
			return fmt.Errorf("%s, %s: the session's user has hash %q, username %q", how, tc.name, c.User.PasswordHash, c.User.Username)
		}
		return nil
	}
	for i := range cases {
		if err := check("alone", st, i); err != nil {
			t.Error(err)
		}
		if err := st.InTx(ctx, func(tx *store.Store) error { return check("in a transaction", tx, i) }); err != nil {
			t.Error(err)
		}
	}
	// All at once, over and over: batches hold several kinds of reads.
	var wg sync.WaitGroup
	errs := make(chan error, 20*len(cases))
	for range 20 {
		for i := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := check("at once", st, i); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRefusedSessionReadsNoPatient: a session check that refuses the login (ended, an account
// deactivated, a password to change first) makes PostgreSQL read no patient at all, counted by PostgreSQL's own statistics of the patients table; the same
// count does see the reads of a live login, so the test can fail.
func TestRefusedSessionReadsNoPatient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One connection, so every query here is counted by one backend, whose statistics
	// pg_stat_force_next_flush sends at once.
	cfg := dbtest.Pool(t).Config().Copy()
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool, 0)
	alice := newUser(t, st, "alice", store.RoleStaff)
	p, err := st.CreatePatient(ctx, store.OwnPatients(alice), patient("P", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	live, ended := login(t, st, alice), login(t, st, alice)
	if err := st.RevokeFamily(ctx, ended, alice.UserID); err != nil {
		t.Fatal(err)
	}
	sentinels := 0
	// scans is how many times the patients table was scanned, once every query before it is
	// counted: a scan of doctors (which nothing else here reads) marks the end, and the
	// backend's statistics are flushed together.
	scans := func() int64 {
		t.Helper()
		sentinels++
		if _, err := pool.Exec(ctx, `SELECT count(*) FROM doctors`); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var marks, n int64
			if err := pool.QueryRow(ctx, `SELECT
				(SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'doctors'),
				(SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'patients')`).
				Scan(&marks, &n); err != nil {
				t.Fatal(err)
			}
			if marks >= int64(sentinels) {
				return n
			}
			if time.Now().After(deadline) {
				t.Fatalf("PostgreSQL's statistics never counted the marker scan (%d of %d)", marks, sentinels)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// carol's login is live, but she must choose her password; dave's account is deactivated
	// (directly, so that his login stays live): neither may read.
	carol, dave := newUser(t, st, "carol", store.RoleStaff), newUser(t, st, "dave", store.RoleStaff)
	carolLogin, daveLogin := login(t, st, carol), login(t, st, dave)
	if _, err := pool.Exec(ctx, `UPDATE users SET must_change_password = (id = $1), is_active = (id <> $2) WHERE id IN ($1, $2)`, carol.UserID, dave.UserID); err != nil {
		t.Fatal(err)
	}
	limits := store.SessionLimits{}
	base := scans()
	for _, who := range []struct {
		a   store.Actor
		fam uuid.UUID
	}{{alice, ended}, {carol, carolLogin}, {dave, daveLogin}} {
		for _, kind := range []store.ReadKind{store.ReadPatient, store.ReadPatientDoctors} {
			for range 5 {
				c, err := st.UserSession(ctx, who.a.UserID, who.fam, limits, store.SessionRead{Kind: kind, Scope: store.ClinicPatients(who.a), ID: p.ID})
				if err != nil || c.Read.Value != nil {
					t.Fatalf("refused session: %+v %v", c, err)
				}
			}
		}
	}
	if n := scans(); n != base {
		t.Fatalf("30 refused reads scanned patients %d times, want 0", n-base)
	}
	c, err := st.UserSession(ctx, alice.UserID, live, limits, store.SessionRead{Kind: store.ReadPatient, Scope: store.OwnPatients(alice), ID: p.ID})
	if err != nil || !c.Live || !errors.Is(c.Read.Err, nil) || c.Read.Value.(store.Patient).ID != p.ID {
		t.Fatalf("live login: %+v %v", c, err)
	}
	if n := scans(); n <= base {
		t.Fatalf("the live login's read was not counted (%d scans, %d before): the count proves nothing", n, base)
	}
}
