package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

func newUser(t *testing.T, st *store.Store, name string, role store.Role) store.Actor {
	t.Helper()
	u, err := st.CreateUser(context.Background(), store.NewUser{Username: name, Email: name + "@example.com", PasswordHash: "x", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return store.Actor{UserID: u.ID, Role: u.Role}
}

func patient(name, phone string) store.PatientFields {
	age, gender, addr := int64(30), "F", "Road 1"
	return store.PatientFields{Name: &name, Age: &age, Gender: &gender, Address: &addr, PhoneNumber: &phone}
}

// TestPatientScope: the zero scope sees and changes nothing, an owner scope only the actor's
// patients, a clinic scope every patient; what the scope does not see looks like what does not exist.
func TestPatientScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(dbtest.Pool(t), 0)
	alice, bob := newUser(t, st, "alice", store.RoleStaff), newUser(t, st, "bob", store.RoleStaff)
	own, err := st.CreatePatient(ctx, store.OwnPatients(alice), patient("Alice's", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.CreateDoctor(ctx, doctor("d@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateAssignment(ctx, store.OwnPatients(alice), own.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	q := store.ListQuery{Limit: 10}
	for _, tc := range []struct {
		name  string
		scope store.PatientScope
		sees  bool
	}{
		{"zero scope", store.PatientScope{}, false},
		{"zero actor, clinic", store.ClinicPatients(store.Actor{}), false},
		{"the owner", store.OwnPatients(alice), true},
		{"another account", store.OwnPatients(bob), false},
		{"another account, clinic", store.ClinicPatients(bob), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, total, err := st.ListPatients(ctx, tc.scope, q)
			if err != nil || (total == 1) != tc.sees || (len(list) == 1) != tc.sees {
				t.Errorf("list: %d rows, total %d, %v", len(list), total, err)
			}
			_, err = st.GetPatient(ctx, tc.scope, own.ID)
			if (err == nil) != tc.sees || (err != nil && !errors.Is(err, store.ErrNotFound)) {
				t.Errorf("get: %v", err)
			}
			if ok, _ := st.PatientExists(ctx, tc.scope, own.ID); ok != tc.sees {
				t.Errorf("exists: %v", ok)
			}
			if _, err := st.GetAssignment(ctx, tc.scope, m.ID); (err == nil) != tc.sees {
				t.Errorf("assignment: %v", err)
			}
			if docs, err := st.PatientDoctors(ctx, tc.scope, own.ID); (err == nil && len(docs) == 1) != tc.sees {
				t.Errorf("patient doctors: %v %v", docs, err)
			}
			age := int64(31)
			if _, err := st.UpdatePatient(ctx, tc.scope, own.ID, store.PatientFields{Age: &age}); (err == nil) != tc.sees {
				t.Errorf("update: %v", err)
			}
		})
	}
	if _, err := st.CreatePatient(ctx, store.PatientScope{}, patient("Nobody's", "2"), nil); !errors.Is(err, store.ErrNoActor) {
		t.Errorf("create in the zero scope: %v", err)
	}
	if err := st.DeletePatient(ctx, store.OwnPatients(bob), own.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob deletes alice's patient: %v", err)
	}
	// A clinic assignment is made by its actor; the doctor's delete then needs bob or an admin.
	other, _ := st.CreateDoctor(ctx, doctor("o@example.org"))
	if _, err := st.CreateAssignment(ctx, store.ClinicPatients(bob), own.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteDoctor(ctx, alice, other.ID); !errors.Is(err, store.ErrDoctorAssignedByOthers) {
		t.Errorf("alice deletes the doctor bob assigned: %v", err)
	}
	if err := st.DeleteDoctor(ctx, bob, other.ID); err != nil {
		t.Errorf("bob deletes the doctor he assigned: %v", err)
	}
	if err := st.DeleteDoctor(ctx, bob, other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
}

// TestUpdateUserLastAdmin: the last active administrator stays; ending logins moves the generation.
func TestUpdateUserLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(dbtest.Pool(t), 0)
	root := newUser(t, st, "root", store.RoleAdmin)
	staff := store.RoleStaff
	no := false
	if _, err := st.UpdateUser(ctx, root.UserID, store.UserChanges{Role: &staff}); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("demote the last admin: %v", err)
	}
	if _, err := st.UpdateUser(ctx, root.UserID, store.UserChanges{IsActive: &no}); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("deactivate the last admin: %v", err)
	}
	newUser(t, st, "second", store.RoleAdmin)
	u, err := st.UpdateUser(ctx, root.UserID, store.UserChanges{IsActive: &no})
	if err != nil || u.IsActive || u.TokenGeneration != 1 {
		t.Fatalf("deactivate with another admin: %+v %v", u, err)
	}
	if _, err := st.UpdateUser(ctx, 999999, store.UserChanges{IsActive: &no}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("nobody: %v", err)
	}
}

// TestRotateFamilyGrace: the replaced token within the grace window returns the current one;
// outside it, or an older token, revokes the family; an ended generation kills it.
func TestRotateFamilyGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(dbtest.Pool(t), 0)
	alice := newUser(t, st, "alice", store.RoleStaff)
	tok := func(s string) store.RefreshToken {
		now := time.Now().Truncate(time.Second)
		return store.RefreshToken{Hash: []byte(s), JTI: "jti-" + s, IssuedAt: now, Expires: now.Add(time.Hour)}
	}
	limits := store.SessionLimits{IdleTimeout: time.Hour, MaxAge: 2 * time.Hour}
	fam := uuid.New()
	if err := st.CreateFamily(ctx, store.NewFamily{ID: fam, UserID: alice.UserID, Token: tok("t0")}); err != nil {
		t.Fatal(err)
	}
	if replay, err := st.RotateFamily(ctx, fam, alice.UserID, []byte("t0"), tok("t1"), time.Minute, limits); err != nil || replay != nil {
		t.Fatalf("rotate: %v %v", replay, err)
	}
	replay, err := st.RotateFamily(ctx, fam, alice.UserID, []byte("t0"), tok("t1b"), time.Minute, limits)
	if err != nil || replay == nil || string(replay.Hash) != "t1" || replay.JTI != "jti-t1" {
		t.Fatalf("the replaced token within the window: %+v %v", replay, err)
	}
	if _, err := st.RotateFamily(ctx, fam, alice.UserID, []byte("t1"), tok("t2"), time.Minute, limits); err != nil {
		t.Fatalf("the current token goes on: %v", err)
	}
	if _, err := st.RotateFamily(ctx, fam, alice.UserID, []byte("t0"), tok("t3"), time.Minute, limits); !errors.Is(err, store.ErrFamilyRevoked) {
		t.Fatalf("a token two rotations old: %v", err)
	}
	if _, err := st.RotateFamily(ctx, fam, alice.UserID, []byte("t2"), tok("t3"), time.Minute, limits); !errors.Is(err, store.ErrFamilyRevoked) {
		t.Fatalf("the family is revoked: %v", err)
	}

	// Ending every login of the account (its generation) kills a live family at once.
	fam2 := uuid.New()
	st.CreateFamily(ctx, store.NewFamily{ID: fam2, UserID: alice.UserID, Token: tok("u0")})
	if err := st.EndLogins(ctx, alice.UserID); err != nil {
		t.Fatal(err)
	}
	if c, err := st.UserSession(ctx, alice.UserID, fam2, limits, store.SessionRead{}); err != nil || c.Live {
		t.Fatalf("after EndLogins: live %v %v", c.Live, err)
	}
	if _, err := st.RotateFamily(ctx, fam2, alice.UserID, []byte("u0"), tok("u1"), time.Minute, limits); !errors.Is(err, store.ErrFamilyRevoked) {
		t.Fatalf("rotate after EndLogins: %v", err)
	}
}
