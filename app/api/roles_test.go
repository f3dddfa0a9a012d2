package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
	"healthcare/app/policy"
)

// expectStatus fails the test unless r has status; it returns r.
func expectStatus(t *testing.T, r *apitest.Response, status int, what string) *apitest.Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d: %s", what, r.Status, status, r.Body)
	}
	return r
}

func setupBody(token, username string) map[string]string {
	return map[string]string{"token": token, "username": username, "email": username + "@example.com", "password": apitest.Password}
}

// TestSetupToken: the first administrator is created with a printed token only, once, and only
// while no administrator exists; a concurrent second attempt loses.
func TestSetupToken(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	var state struct{ Required bool }
	expectStatus(t, e.Get("/api/setup/", ""), 200, "setup state").Decode(t, &state)
	if !state.Required {
		t.Fatal("a fresh server must ask for setup")
	}
	expectStatus(t, e.Post("/api/setup/", "", setupBody("no-token-was-printed", "mallory")), 403, "no token yet")
	tok := e.SetupToken()
	expectStatus(t, e.Post("/api/setup/", "", setupBody(tok+"x", "mallory")), 403, "wrong token")
	expectStatus(t, e.Post("/api/setup/", "", map[string]string{"token": tok, "username": "boss"}), 400, "missing fields")
	r := expectStatus(t, e.Post("/api/setup/", "", map[string]string{"token": tok, "username": "boss", "email": "boss@example.com", "password": "boss"}), 400, "weak password")
	if !strings.Contains(string(r.Body), "This password is too short") {
		t.Errorf("weak password: %s", r.Body)
	}

	// Two at once with the right token: exactly one administrator.
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, _, err := rawPost(&http.Client{}, e.URL+"/api/setup/", setupBody(tok, fmt.Sprintf("boss%d", i)))
			if err != nil {
				t.Error(err)
			}
			statuses[i] = st
		}()
	}
	wg.Wait()
	created := 0
	for _, st := range statuses {
		switch st {
		case 201:
			created++
		case 409, 403:
		default:
			t.Errorf("concurrent setup: %d", st)
		}
	}
	if created != 1 {
		t.Fatalf("concurrent setups: %v, want exactly one 201", statuses)
	}
	var admins int
	if err := e.Store().Pool().QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&admins); err != nil || admins != 1 {
		t.Fatalf("%d administrators (%v)", admins, err)
	}
	expectStatus(t, e.Get("/api/setup/", ""), 200, "setup state").Decode(t, &state)
	if state.Required {
		t.Error("setup still required after it")
	}
	// The token worked once: it is gone, and another one made now is refused too.
	expectStatus(t, e.Post("/api/setup/", "", setupBody(tok, "late")), 409, "the same token again")
	expectStatus(t, e.Post("/api/setup/", "", setupBody(e.SetupToken(), "later")), 409, "a new token while an administrator exists")
	var left int
	e.Store().Pool().QueryRow(t.Context(), `SELECT count(*) FROM setup_tokens`).Scan(&left)
	if left != 1 { // only the one made after the administrator: refused anyway
		t.Errorf("%d setup tokens left", left)
	}
}

// TestSetupResponseSignsIn: the answer carries the new administrator's login.
func TestSetupResponseSignsIn(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	var out struct {
		Message string
		User    struct{ Username string }
		Access  string
	}
	expectStatus(t, e.Post("/api/setup/", "", setupBody(e.SetupToken(), "boss")), 201, "setup").Decode(t, &out)
	var me struct{ Role string }
	expectStatus(t, e.Get("/api/auth/me/", out.Access), 200, "me").Decode(t, &me)
	if me.Role != "admin" || out.User.Username != "boss" {
		t.Errorf("setup made %+v, me %+v", out, me)
	}
	expectStatus(t, e.Get("/api/admin/users/", out.Access), 200, "the new administrator administers")
}

// TestSetupRateLimited: setup attempts count per client address like registrations.
func TestSetupRateLimited(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.RegisterPerAddress, c.RateLimit.RegisterWindow = true, 2, longWindow
	})
	for range 2 {
		expectStatus(t, e.Post("/api/setup/", "", setupBody("guess", "mallory")), 403, "guess")
	}
	r := e.Post("/api/setup/", "", setupBody(e.SetupToken(), "boss"))
	checkThrottled(t, r.Status, r.Header, r.Body)
}

// TestLastAdmin: the last active administrator can be neither demoted nor deactivated, by itself
// or anyone; with two, each can go, but not both at once.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	root := e.Admin("root")
	rootID := e.UserID("root")
	path := fmt.Sprintf("/api/admin/users/%d/", rootID)
	for _, change := range []map[string]any{{"role": "staff"}, {"is_active": false}, {"is_active": "false", "role": "staff"}} {
		r := expectStatus(t, e.Patch(path, root, change), 409, fmt.Sprint("last admin ", change))
		if !strings.Contains(string(r.Body), "last active administrator") {
			t.Errorf("409 body %s", r.Body)
		}
	}
	// Still an administrator, still signed in.
	expectStatus(t, e.Get(path, root), 200, "root after the refusals")

	second := e.Admin("second")
	secondID := e.UserID("second")
	// Both demote each other at the same moment: one wins, one is refused.
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, x := range []struct {
		token string
		id    int64
	}{{root, secondID}, {second, rootID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.Patch(fmt.Sprintf("/api/admin/users/%d/", x.id), x.token, map[string]any{"role": "staff"})
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, st := range statuses {
		switch st {
		case 200:
			ok++
		case 409, 403: // 403: the loser was demoted before its request was authorised
			refused++
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("concurrent demotions: %v", statuses)
	}
	var admins int
	e.Store().Pool().QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'admin' AND is_active`).Scan(&admins)
	if admins != 1 {
		t.Fatalf("%d active administrators left", admins)
	}
}

// TestDeactivationEndsAccess: a deactivated account's tokens stop at its next request (access and
// refresh), reactivation does not revive them, and it signs in again after reactivation.
func TestDeactivationEndsAccess(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	root := e.Admin("root")
	e.Register(t, "alice")
	access, refresh := e.Login("alice")
	expectStatus(t, e.Get("/api/patients/", access), 200, "before")
	path := fmt.Sprintf("/api/admin/users/%d/", e.UserID("alice"))
	var acct struct {
		IsActive bool `json:"is_active"`
	}
	expectStatus(t, e.Patch(path, root, map[string]any{"is_active": false}), 200, "deactivate").Decode(t, &acct)
	if acct.IsActive {
		t.Fatal("still active")
	}
	r := expectStatus(t, e.Get("/api/patients/", access), 401, "access token after deactivation")
	if !strings.Contains(string(r.Body), "no_active_account") {
		t.Errorf("401 body %s", r.Body)
	}
	expectStatus(t, e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": refresh}), 401, "refresh after deactivation")
	expectStatus(t, e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": apitest.Password}), 401, "login while deactivated")

	expectStatus(t, e.Patch(path, root, map[string]any{"is_active": true}), 200, "reactivate")
	expectStatus(t, e.Get("/api/patients/", access), 401, "an old access token after reactivation")
	expectStatus(t, e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": refresh}), 401, "an old refresh token after reactivation")
	access, _ = e.Login("alice")
	expectStatus(t, e.Get("/api/patients/", access), 200, "a new login")

	// Sign out everywhere: every login of the account ends at once; the account stays active.
	other, _ := e.Login("alice")
	expectStatus(t, e.Post(path+"logout-everywhere/", root, nil), 204, "logout everywhere")
	for _, tok := range []string{access, other} {
		expectStatus(t, e.Get("/api/auth/me/", tok), 401, "after logout everywhere")
	}
	e.Login("alice")
	expectStatus(t, e.Post("/api/admin/users/999999/logout-everywhere/", root, nil), 404, "logout everywhere of nobody")
}

// TestAdminUsers: administrators list, search, create, change and reset accounts; a reset
// password must be changed at the next sign-in, and nothing else works until it is.
func TestAdminUsers(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	root := e.Admin("root")
	for _, u := range []string{"alice", "albert", "bob"} {
		e.Register(t, u)
	}
	r := expectStatus(t, e.Get("/api/admin/users/?search=AL&ordering=-username&limit=1", root), 200, "search")
	if r.Header.Get("X-Total-Count") != "2" || !strings.Contains(string(r.Body), `"username":"alice"`) || r.Header.Get("Link") == "" {
		t.Errorf("search: total %s, link %q: %s", r.Header.Get("X-Total-Count"), r.Header.Get("Link"), r.Body)
	}
	r = expectStatus(t, e.Get("/api/admin/users/?role=admin", root), 200, "admins")
	if r.Header.Get("X-Total-Count") != "1" {
		t.Errorf("admins: %s", r.Body)
	}
	expectStatus(t, e.Get("/api/admin/users/?role=boss&is_active=maybe", root), 400, "bad filters")

	// Create: field errors as registration's; the account must choose its own password.
	expectStatus(t, e.Post("/api/admin/users/", root, map[string]any{"username": "ALICE", "email": "new@example.com", "password": apitest.Password}), 400, "taken username")
	expectStatus(t, e.Post("/api/admin/users/", root, map[string]any{"username": "carol", "email": "carol@example.com", "password": "carol", "role": "boss"}), 400, "bad role")
	var carol struct {
		ID                 int64
		Role               string
		MustChangePassword bool `json:"must_change_password"`
	}
	expectStatus(t, e.Post("/api/admin/users/", root, map[string]any{"username": "carol", "email": "carol@example.com",
		"password": apitest.Password, "role": "admin"}), 201, "create").Decode(t, &carol)
	if carol.Role != "admin" || !carol.MustChangePassword {
		t.Errorf("created %+v", carol)
	}
	carolTok, _ := e.Login("carol")
	r = expectStatus(t, e.Get("/api/admin/users/", carolTok), 403, "before choosing a password")
	if !strings.Contains(string(r.Body), "password_change_required") {
		t.Errorf("403 body %s", r.Body)
	}
	var me struct {
		MustChangePassword bool `json:"must_change_password"`
	}
	expectStatus(t, e.Get("/api/auth/me/", carolTok), 200, "me").Decode(t, &me)
	if !me.MustChangePassword {
		t.Error("me does not say the password must change")
	}
	var pair struct{ Access string }
	expectStatus(t, e.Post("/api/auth/password/", carolTok, map[string]string{"old_password": apitest.Password,
		"new_password1": "Car0l!own-choice", "new_password2": "Car0l!own-choice"}), 200, "choose").Decode(t, &pair)
	expectStatus(t, e.Get("/api/admin/users/", pair.Access), 200, "after choosing")

	// Reset bob's password: his logins end, and he must choose his own.
	bobID := e.UserID("bob")
	bobTok, _ := e.Login("bob")
	expectStatus(t, e.Patch(fmt.Sprintf("/api/admin/users/%d/", bobID), root, map[string]any{"password": "short"}), 400, "weak reset")
	expectStatus(t, e.Patch(fmt.Sprintf("/api/admin/users/%d/", bobID), root, map[string]any{"password": "Res3t!by-admin"}), 200, "reset")
	expectStatus(t, e.Get("/api/patients/", bobTok), 401, "bob's old login after the reset")
	var login struct{ Access string }
	expectStatus(t, e.Post("/api/auth/login/", "", map[string]string{"username": "bob", "password": "Res3t!by-admin"}), 200, "bob's new password").Decode(t, &login)
	expectStatus(t, e.Get("/api/patients/", login.Access), 403, "bob before choosing")

	// Email: validated and unique; role and approval.
	aliceID := e.UserID("alice")
	path := fmt.Sprintf("/api/admin/users/%d/", aliceID)
	expectStatus(t, e.Patch(path, root, map[string]any{"email": "BOB@example.com"}), 400, "taken email")
	expectStatus(t, e.Patch(path, root, map[string]any{"email": "not-an-email"}), 400, "bad email")
	expectStatus(t, e.Patch(path, root, map[string]any{"is_active": "sometimes"}), 400, "bad boolean")
	var acct struct {
		Email string
		Role  string
	}
	// A key the view doesn't know is ignored, and never reaches the log (a client writes any text
	// there); the log names the fields that changed.
	expectStatus(t, e.Patch(path, root, map[string]any{"email": "alice@clinic.example", "role": "admin", "Patient Jane Doe HIV+": 1}), 200, "promote").Decode(t, &acct)
	if acct.Email != "alice@clinic.example" || acct.Role != "admin" {
		t.Errorf("patched %+v", acct)
	}
	if logs := e.Logs(); strings.Contains(logs, "Jane Doe") || !strings.Contains(logs, `"fields":"email,role"`) {
		t.Errorf("account change log:\n%s", logs)
	}
	expectStatus(t, e.Get("/api/admin/users/999999/", root), 404, "nobody")
	expectStatus(t, e.Patch("/api/admin/users/999999/", root, map[string]any{"is_active": true}), 404, "patch nobody")
}

// TestRegistrationApproval: with registration approval new accounts wait, inactive, until an
// administrator approves them; existing accounts are not affected by the policy.
func TestRegistrationApproval(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	root := e.Admin("root")
	e.Register(t, "alice")
	e.SetPolicy(policy.Registration, policy.RegistrationApproval)
	r := expectStatus(t, e.Post("/api/auth/register/", "", register("newbie", "newbie@example.com", pw, pw)), 201, "register")
	if !strings.Contains(string(r.Body), "An administrator must approve") {
		t.Errorf("register body %s", r.Body)
	}
	expectStatus(t, e.Post("/api/auth/login/", "", map[string]string{"username": "newbie", "password": pw}), 401, "before approval")
	// Nothing is said about existing accounts (issue 16): registering as alice, or with her email,
	// answers exactly as a new account does, and changes nothing.
	for _, body := range []map[string]string{
		register("alice", "fresh@example.com", pw, pw),
		register("fresh", "alice@example.com", pw, pw),
	} {
		same := expectStatus(t, e.Post("/api/auth/register/", "", body), 201, "register an existing account")
		if string(same.Body) != string(r.Body) {
			t.Errorf("an existing account answers %s, a new one %s", same.Body, r.Body)
		}
	}
	if _, err := e.Store().UserByUsername(context.Background(), "fresh"); err == nil {
		t.Error("an account was created for an existing email")
	}
	e.Login("alice") // an existing account signs in as before
	expectStatus(t, e.Get("/api/admin/users/?is_active=false", root), 200, "waiting list")
	expectStatus(t, e.Patch(fmt.Sprintf("/api/admin/users/%d/", e.UserID("newbie")), root, map[string]any{"is_active": true}), 200, "approve")
	e.Login("newbie")

	e.SetPolicy(policy.Registration, policy.RegistrationClosed)
	r = expectStatus(t, e.Post("/api/auth/register/", "", register("late", "late@example.com", pw, pw)), 403, "closed")
	if !strings.Contains(string(r.Body), "Ask an administrator") {
		t.Errorf("closed body %s", r.Body)
	}
	e.Login("alice")
}

// TestSettings: the precedence (configuration > administrators' choice > default) as GET shows it,
// changes in force at the next request, a configured policy locked, and clinic refused with open
// registration.
func TestSettings(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Doctors.Writes = "admin" })
	root := e.Admin("root")
	alice := e.User("alice")
	type setting struct {
		Value, Source string
		Locked        bool
	}
	var got map[string]setting
	expectStatus(t, e.Get("/api/admin/settings/", root), 200, "get").Decode(t, &got)
	want := map[string]setting{
		"registration":        {"open", "default", false},
		"patients.visibility": {"owner", "default", false},
		"doctors.writes":      {"admin", "config", true},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %+v, want %+v", k, got[k], w)
		}
	}
	r := expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"doctors.writes": "any"}), 400, "locked")
	if !strings.Contains(string(r.Body), "Set by the configuration (doctors.writes)") {
		t.Errorf("locked body %s", r.Body)
	}
	expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"doctors.writes": "admin"}), 200, "the configured value is fine")
	r = expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"patients.visibility": "clinic"}), 400, "clinic with open registration")
	if !strings.Contains(string(r.Body), `"patients.visibility"`) {
		t.Errorf("clinic body %s", r.Body)
	}
	expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"registration": "sometimes", "colour": "blue"}), 400, "bad value, unknown key")

	bob := e.User("bob")
	e.Post("/api/patients/", bob, map[string]any{"name": "Bob's patient", "age": 50, "gender": "M", "address": "Road 9", "phone_number": "555"})
	if r := e.Get("/api/patients/", alice); strings.Contains(string(r.Body), "Bob's") {
		t.Fatalf("owner visibility shows bob's patient: %s", r.Body)
	}
	expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"registration": "closed", "patients.visibility": "clinic"}), 200, "clinic").Decode(t, &got)
	if got["patients.visibility"] != (setting{"clinic", "database", false}) {
		t.Errorf("after PUT: %+v", got)
	}
	// In force at the very next request, the token unchanged.
	r = expectStatus(t, e.Get("/api/patients/", alice), 200, "clinic list")
	if !strings.Contains(string(r.Body), `"managed_by":"bob"`) {
		t.Errorf("clinic visibility hides bob's patient: %s", r.Body)
	}
	var me struct{ Policies map[string]string }
	expectStatus(t, e.Get("/api/auth/me/", alice), 200, "me").Decode(t, &me)
	if me.Policies["patients.visibility"] != "clinic" || me.Policies["doctors.writes"] != "admin" {
		t.Errorf("me policies %v", me.Policies)
	}
	r = expectStatus(t, e.Put("/api/admin/settings/", root, map[string]string{"registration": "open"}), 400, "open while clinic")
	if !strings.Contains(string(r.Body), `"registration"`) {
		t.Errorf("open body %s", r.Body)
	}
}

// TestClinicVisibility: in clinic mode every account reads and edits every patient and its
// assignments, managed_by stays the account that entered it, and the phone uniqueness stays the
// entering account's.
func TestClinicVisibility(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	alice, bob := e.User("alice"), e.User("bob")
	e.SetPolicy(policy.Registration, policy.RegistrationClosed)
	e.SetPolicy(policy.PatientsVisibility, policy.VisibilityClinic)

	var p struct{ ID int64 }
	expectStatus(t, e.Post("/api/patients/", bob, map[string]any{"name": "Shared", "age": 5, "gender": "F", "address": "Road", "phone_number": "555-1"}), 201, "bob's patient").Decode(t, &p)
	var d struct{ ID int64 }
	expectStatus(t, e.Post("/api/doctors/", alice, map[string]string{"name": "Dr", "specialization": "GP", "contact_info": "dr@example.org"}), 201, "doctor").Decode(t, &d)
	path := fmt.Sprintf("/api/patients/%d/", p.ID)
	r := expectStatus(t, e.Patch(path, alice, map[string]any{"age": 6}), 200, "alice edits bob's patient")
	if !strings.Contains(string(r.Body), `"managed_by":"bob"`) {
		t.Errorf("managed_by changed: %s", r.Body)
	}
	// Alice may use the same phone number for a patient of her own (uniqueness is per account)...
	expectStatus(t, e.Post("/api/patients/", alice, map[string]any{"name": "Hers", "age": 5, "gender": "F", "address": "Road", "phone_number": "555-1"}), 201, "same phone, other account")
	// ...but editing bob's patient checks bob's numbers.
	expectStatus(t, e.Post("/api/patients/", bob, map[string]any{"name": "Two", "age": 5, "gender": "F", "address": "Road", "phone_number": "555-2"}), 201, "bob's second")
	r = expectStatus(t, e.Patch(path, alice, map[string]any{"phone_number": "555-2"}), 400, "bob's number taken")
	if !strings.Contains(string(r.Body), "patient with this phone number already exists.") {
		t.Errorf("400 body %s", r.Body)
	}
	var m struct{ ID int64 }
	expectStatus(t, e.Post("/api/mappings/", alice, map[string]any{"patient": p.ID, "doctor": d.ID}), 201, "alice assigns bob's patient").Decode(t, &m)
	expectStatus(t, e.Get(fmt.Sprintf("/api/mappings/%d/", m.ID), bob), 200, "bob sees it")
	expectStatus(t, e.Get(path+"doctors/", bob), 200, "bob sees the doctors")

	// Back to owner: alice no longer sees bob's patient or its assignment.
	e.SetPolicy(policy.PatientsVisibility, policy.VisibilityOwner)
	expectStatus(t, e.Get(path, alice), 404, "owner again")
	expectStatus(t, e.Get(fmt.Sprintf("/api/mappings/%d/", m.ID), alice), 404, "owner again: assignment")
}

// TestCrossAccountDoctorDelete: a non-administrator cannot delete a doctor another account
// assigned (409, nothing deleted) in any mode; the doctor of one's own assignments can go, and an
// administrator may delete any.
func TestCrossAccountDoctorDelete(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	alice, bob := e.User("alice"), e.User("bob")
	root := e.Admin("root")
	newDoctor := func(tok, contact string) int64 {
		var d struct{ ID int64 }
		expectStatus(t, e.Post("/api/doctors/", tok, map[string]string{"name": "Dr", "specialization": "GP", "contact_info": contact}), 201, "doctor").Decode(t, &d)
		return d.ID
	}
	var p struct{ ID int64 }
	expectStatus(t, e.Post("/api/patients/", alice, map[string]any{"name": "A", "age": 5, "gender": "F", "address": "Road", "phone_number": "555-1"}), 201, "patient").Decode(t, &p)
	shared := newDoctor(bob, "shared@example.org")
	expectStatus(t, e.Post("/api/mappings/", alice, map[string]any{"patient": p.ID, "doctor": shared}), 201, "alice assigns")

	r := expectStatus(t, e.Delete(fmt.Sprintf("/api/doctors/%d/", shared), bob), 409, "bob deletes the doctor alice assigned")
	if !strings.Contains(string(r.Body), "assigned to patients by other accounts") {
		t.Errorf("409 body %s", r.Body)
	}
	r = expectStatus(t, e.Get("/api/mappings/", alice), 200, "alice's list")
	if r.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("alice lost her assignment: %s", r.Body)
	}
	// The same in clinic mode.
	e.SetPolicy(policy.Registration, policy.RegistrationClosed)
	e.SetPolicy(policy.PatientsVisibility, policy.VisibilityClinic)
	expectStatus(t, e.Delete(fmt.Sprintf("/api/doctors/%d/", shared), bob), 409, "clinic mode")
	// Alice assigned it herself: she may.
	expectStatus(t, e.Delete(fmt.Sprintf("/api/doctors/%d/", shared), alice), 204, "alice deletes her doctor")
	// An administrator may delete any.
	other := newDoctor(bob, "other@example.org")
	expectStatus(t, e.Post("/api/mappings/", alice, map[string]any{"patient": p.ID, "doctor": other}), 201, "alice assigns again")
	expectStatus(t, e.Delete(fmt.Sprintf("/api/doctors/%d/", other), root), 204, "the administrator deletes")
	// An assignment whose maker was deleted counts as another account's.
	orphan := newDoctor(bob, "orphan@example.org")
	e.MustExec(`INSERT INTO assignments (patient_id, doctor_id, assigned_by) VALUES ($1, $2, NULL)`, p.ID, orphan)
	expectStatus(t, e.Delete(fmt.Sprintf("/api/doctors/%d/", orphan), alice), 409, "maker unknown")
}

// TestBackupsNeedEmbeddedMode: with an external database the backup endpoints answer 409 with a
// sentence; a bad name is 404.
func TestBackupsNeedEmbeddedMode(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Database.URL = "postgres://elsewhere.example/db" })
	root := e.Admin("root")
	for _, req := range []apitest.Request{
		{Method: "GET", Path: "/api/admin/backups/"},
		{Method: "POST", Path: "/api/admin/backups/"},
		{Method: "GET", Path: "/api/admin/backups/healthcare-20260101T000000Z-v2.backup"},
	} {
		req.Token = root
		r := expectStatus(t, e.Do(req), 409, req.Method+" "+req.Path)
		if !strings.Contains(string(r.Body), "embedded database") {
			t.Errorf("409 body %s", r.Body)
		}
	}
	embedded := apitest.New(t)
	admin := embedded.Admin("root")
	for _, name := range []string{"..%2F..%2Fjwt-secret", "jwt-secret", "healthcare-x.backup"} {
		expectStatus(t, embedded.Get("/api/admin/backups/"+name, admin), 404, name)
	}
	var b struct{ Name string }
	expectStatus(t, embedded.Post("/api/admin/backups/", admin, nil), 201, "back up").Decode(t, &b)
	r := expectStatus(t, embedded.Get("/api/admin/backups/"+b.Name, admin), 200, "download")
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Disposition") != `attachment; filename="`+b.Name+`"` ||
		r.Header.Get("Content-Type") != "application/octet-stream" || len(r.Body) < 100 {
		t.Errorf("download headers %v, %d bytes", r.Header, len(r.Body))
	}
}
