package api_test

import (
	"fmt"
	"testing"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
	"healthcare/app/policy"
)

// TestSessionReadFollowsTheSessionScope: GET one patient (and its doctors) have their read answered by
// the session check, in the scope the last request saw; when the clinic's visibility changed
// since, the very first request after the change answers in the new scope, both ways; a token
// whose login ended gets 401 and no patient.
func TestSessionReadFollowsTheSessionScope(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {})
	alice, bob := e.User("alice"), e.User("bob")
	r := e.Post("/api/patients/", bob, map[string]any{"name": "Bob's", "age": 30, "gender": "M", "address": "x", "phone_number": "+15550001"})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var p struct{ ID int64 }
	r.Decode(t, &p)
	paths := []string{fmt.Sprintf("/api/patients/%d/", p.ID), fmt.Sprintf("/api/patients/%d/doctors/", p.ID)}
	expect := func(when string, status int) {
		t.Helper()
		for _, path := range paths {
			if r := e.Get(path, alice); r.Status != status {
				t.Errorf("%s: GET %s as alice: %d %s, want %d", when, path, r.Status, r.Body, status)
			}
			if r := e.Get(path, alice); r.Status != status { // the guess now matches
				t.Errorf("%s, again: GET %s as alice: %d, want %d", when, path, r.Status, status)
			}
		}
	}
	expect("owner visibility", 404)
	e.SetPolicy(policy.Registration, policy.RegistrationApproval)
	e.SetPolicy(policy.PatientsVisibility, policy.VisibilityClinic)
	expect("right after the switch to clinic visibility", 200)
	e.SetPolicy(policy.PatientsVisibility, policy.VisibilityOwner)
	expect("right after the switch back to owner visibility", 404)

	access, refresh := e.Login("bob")
	if r := e.Get(paths[0], access); r.Status != 200 {
		t.Fatalf("bob's own patient: %d", r.Status)
	}
	if r := e.Post("/api/auth/logout/", "", map[string]string{"refresh": refresh}); r.Status != 204 {
		t.Fatalf("logout: %d", r.Status)
	}
	for _, path := range paths {
		if r := e.Get(path, access); r.Status != 401 {
			t.Errorf("GET %s after logout: %d %s, want 401", path, r.Status, r.Body)
		}
	}
}
