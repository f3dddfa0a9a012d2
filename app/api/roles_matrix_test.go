package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"healthcare/app/api/apitest"
	"healthcare/app/backup"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// The matrix: every route of the API (each method, OPTIONS and a wrong method included) requested
// by every kind of caller, under every value of every clinic policy, by one scenario runner. Each
// row says what an administrator and a staff member get; what an anonymous caller, a deactivated
// account and an account that must change its password get follows from the route's kind (public,
// protected, "password pending"), so a row cannot forget them.

// Callers of the matrix.
const (
	asAdmin       = "admin"
	asStaff       = "staff"
	asAnonymous   = "anonymous"
	asDeactivated = "deactivated"
	asPending     = "must-change-password" // an administrator reset its password
)

var matrixCallers = []string{asAdmin, asStaff, asAnonymous, asDeactivated, asPending}

// routeKind says who may reach a route at all.
type routeKind int

const (
	protected       routeKind = iota // a token of an active account whose password is its own
	public                           // anyone: no token needed
	passwordPending                  // protected, and open to an account that must change its password
)

// want is the expected status under the policies in force.
type want func(p policy.Policies) int

func is(status int) want { return func(policy.Policies) int { return status } }

// ifClinic is a for clinic visibility, else b (owner: someone else's patient is "not found").
func ifClinic(a, b int) want {
	return func(p policy.Policies) int {
		if p.Clinic() {
			return a
		}
		return b
	}
}

// ifAdminWrites is a when doctor writes are for administrators only, else b.
func ifAdminWrites(a, b int) want {
	return func(p policy.Policies) int {
		if p.DoctorWritesAdminOnly() {
			return a
		}
		return b
	}
}

// matrixRow is one request of the matrix. Path and Body may hold placeholders ({doctor},
// {other_patient}...) that the runner replaces with fixtures, fresh ones for destructive requests.
type matrixRow struct {
	Method, Path string
	Body         func(f *matrixWorld) any
	Kind         routeKind
	Admin, Staff want
	// Check, when set, looks at a successful answer (what the caller may see).
	Check func(t *testing.T, f *matrixWorld, caller string, p policy.Policies, r *apitest.Response)
	// EndsLogins: the request ends the caller's logins (a password change): log in again after it.
	EndsLogins bool
}

func body(v any) func(*matrixWorld) any { return func(*matrixWorld) any { return v } }

// seesOtherPatient checks that a list shows the other account's patient exactly in clinic mode.
func seesOtherPatient(t *testing.T, f *matrixWorld, caller string, p policy.Policies, r *apitest.Response) {
	t.Helper()
	if got, wantIt := strings.Contains(string(r.Body), "Bob's patient"), p.Clinic(); got != wantIt {
		t.Errorf("%s sees the other account's patient: %v, want %v (%s): %s", caller, got, wantIt, p.PatientsVisibility, r.Body)
	}
}

var matrixRows = []matrixRow{
	// Public: the first-run state, registration, login, refresh and logout.
	{Method: "GET", Path: "/api/setup/", Kind: public, Admin: is(200), Staff: is(200)},
	{Method: "POST", Path: "/api/setup/", Kind: public, Admin: is(409), Staff: is(409), Body: body(map[string]string{
		"token": "not-the-token", "username": "intruder", "email": "intruder@example.com", "password": apitest.Password})},
	{Method: "OPTIONS", Path: "/api/setup/", Kind: public, Admin: is(200), Staff: is(200)},
	{Method: "POST", Path: "/api/auth/register/", Kind: public, Body: func(f *matrixWorld) any {
		n := f.unique("newcomer")
		return map[string]string{"username": n, "email": n + "@example.com", "password": apitest.Password, "password2": apitest.Password}
	}, Admin: registration, Staff: registration},
	{Method: "POST", Path: "/api/auth/login/", Kind: public, Admin: is(200), Staff: is(200),
		Body: body(map[string]string{"username": "alice", "password": apitest.Password})},
	{Method: "POST", Path: "/api/auth/login/refresh/", Kind: public, Admin: is(200), Staff: is(200),
		Body: func(f *matrixWorld) any { _, r := f.e.Login("alice"); return map[string]string{"refresh": r} }},
	{Method: "POST", Path: "/api/auth/logout/", Kind: public, Admin: is(204), Staff: is(204),
		Body: func(f *matrixWorld) any { _, r := f.e.Login("alice"); return map[string]string{"refresh": r} }},

	// The caller's own account.
	{Method: "GET", Path: "/api/", Kind: protected, Admin: is(200), Staff: is(200)},
	{Method: "GET", Path: "/api/auth/me/", Kind: passwordPending, Admin: is(200), Staff: is(200)},
	{Method: "POST", Path: "/api/auth/password/", Kind: passwordPending, Admin: is(200), Staff: is(200), EndsLogins: true,
		Body: body(map[string]string{"old_password": apitest.Password, "new_password1": apitest.Password, "new_password2": apitest.Password})},
	{Method: "OPTIONS", Path: "/api/auth/password/", Kind: passwordPending, Admin: is(200), Staff: is(200)},
	{Method: "GET", Path: "/api/auth/sessions/", Kind: passwordPending, Admin: is(200), Staff: is(200)},
	{Method: "OPTIONS", Path: "/api/auth/sessions/", Kind: passwordPending, Admin: is(200), Staff: is(200)},
	{Method: "DELETE", Path: "/api/auth/sessions/{my_other_session}/", Kind: passwordPending, Admin: is(204), Staff: is(204)},
	{Method: "DELETE", Path: "/api/auth/sessions/", Kind: passwordPending, Admin: is(204), Staff: is(204)},
	{Method: "OPTIONS", Path: "/api/auth/sessions/{my_other_session}/", Kind: passwordPending, Admin: is(200), Staff: is(200)},
	{Method: "PUT", Path: "/api/auth/sessions/", Kind: passwordPending, Admin: is(405), Staff: is(405)},

	// Doctors: shared; writes follow doctors.writes; nobody but an administrator deletes a doctor
	// another account assigned.
	{Method: "GET", Path: "/api/doctors/", Kind: protected, Admin: is(200), Staff: is(200)},
	{Method: "POST", Path: "/api/doctors/", Kind: protected, Admin: is(201), Staff: ifAdminWrites(403, 201),
		Body: func(f *matrixWorld) any {
			return map[string]string{"name": "Dr New", "specialization": "GP", "contact_info": f.unique("new") + "@doctors.example"}
		}},
	{Method: "GET", Path: "/api/doctors/{doctor}/", Kind: protected, Admin: is(200), Staff: is(200)},
	{Method: "PUT", Path: "/api/doctors/{doctor}/", Kind: protected, Admin: is(200), Staff: ifAdminWrites(403, 200),
		Body: body(map[string]string{"name": "Dr Shared", "specialization": "GP", "contact_info": "shared@doctors.example"})},
	{Method: "PATCH", Path: "/api/doctors/{doctor}/", Kind: protected, Admin: is(200), Staff: ifAdminWrites(403, 200),
		Body: body(map[string]string{"specialization": "Family medicine"})},
	{Method: "DELETE", Path: "/api/doctors/{fresh_doctor}/", Kind: protected, Admin: is(204), Staff: ifAdminWrites(403, 204)},
	{Method: "DELETE", Path: "/api/doctors/{doctor_assigned_by_other}/", Kind: protected, Admin: is(204), Staff: ifAdminWrites(403, 409)},
	{Method: "OPTIONS", Path: "/api/doctors/{doctor}/", Kind: protected, Admin: is(200), Staff: is(200)},

	// Patients: one's own always; another account's only with clinic visibility (else 404).
	{Method: "GET", Path: "/api/patients/", Kind: protected, Admin: is(200), Staff: is(200), Check: seesOtherPatient},
	{Method: "POST", Path: "/api/patients/", Kind: protected, Admin: is(201), Staff: is(201), Body: func(f *matrixWorld) any {
		return map[string]any{"name": "New", "age": 30, "gender": "F", "address": "Road 2", "phone_number": f.phone()}
	}},
	{Method: "GET", Path: "/api/patients/{own_patient}/", Kind: protected, Admin: is(200), Staff: is(200)},
	{Method: "GET", Path: "/api/patients/{other_patient}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404)},
	{Method: "PUT", Path: "/api/patients/{other_patient}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404),
		Body: body(map[string]any{"name": "Bob's patient", "age": 50, "gender": "M", "address": "Road 9", "phone_number": "555-0900"})},
	{Method: "PATCH", Path: "/api/patients/{other_patient}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404),
		Body: body(map[string]any{"age": 51})},
	{Method: "DELETE", Path: "/api/patients/{fresh_other_patient}/", Kind: protected, Admin: ifClinic(204, 404), Staff: ifClinic(204, 404)},
	{Method: "GET", Path: "/api/patients/{other_patient}/doctors/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404)},
	{Method: "OPTIONS", Path: "/api/patients/", Kind: protected, Admin: is(200), Staff: is(200)},
	// Access history: a staff member's own patients in owner mode; administrators only in clinic mode.
	{Method: "GET", Path: "/api/patients/{own_patient}/audit/", Kind: protected, Admin: is(200), Staff: ifClinic(403, 200)},
	{Method: "GET", Path: "/api/patients/{other_patient}/audit/", Kind: protected, Admin: is(200), Staff: ifClinic(403, 404)},
	{Method: "OPTIONS", Path: "/api/patients/{own_patient}/audit/", Kind: protected, Admin: is(200), Staff: is(200)},

	// Assignments follow their patients.
	{Method: "GET", Path: "/api/mappings/", Kind: protected, Admin: is(200), Staff: is(200)},
	{Method: "POST", Path: "/api/mappings/", Kind: protected, Admin: ifClinic(201, 400), Staff: ifClinic(201, 400),
		Body: func(f *matrixWorld) any { return map[string]any{"patient": f.otherPatient, "doctor": f.freshDoctor()} }},
	{Method: "GET", Path: "/api/mappings/{other_mapping}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404)},
	{Method: "PUT", Path: "/api/mappings/{fresh_other_mapping}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404),
		Body: func(f *matrixWorld) any { return map[string]any{"patient": f.otherPatient, "doctor": f.freshDoctor()} }},
	{Method: "PATCH", Path: "/api/mappings/{fresh_other_mapping}/", Kind: protected, Admin: ifClinic(200, 404), Staff: ifClinic(200, 404),
		Body: func(f *matrixWorld) any { return map[string]any{"doctor": f.freshDoctor()} }},
	{Method: "DELETE", Path: "/api/mappings/{fresh_other_mapping}/", Kind: protected, Admin: ifClinic(204, 404), Staff: ifClinic(204, 404)},
	{Method: "OPTIONS", Path: "/api/mappings/{own_mapping}/", Kind: protected, Admin: is(200), Staff: is(200)},

	// Administration: 403 for staff, after the 401 of no token and before a wrong method's 405.
	{Method: "GET", Path: "/api/admin/users/?search=a&role=staff&is_active=true", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "POST", Path: "/api/admin/users/", Kind: protected, Admin: is(201), Staff: is(403), Body: func(f *matrixWorld) any {
		n := f.unique("hired")
		return map[string]string{"username": n, "email": n + "@example.com", "password": apitest.Password}
	}},
	{Method: "OPTIONS", Path: "/api/admin/users/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/users/{fresh_user}/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "PATCH", Path: "/api/admin/users/{fresh_user}/", Kind: protected, Admin: is(200), Staff: is(403),
		Body: body(map[string]any{"is_active": false})},
	{Method: "PUT", Path: "/api/admin/users/{fresh_user}/", Kind: protected, Admin: is(405), Staff: is(403), Body: body(map[string]any{})},
	{Method: "OPTIONS", Path: "/api/admin/users/{fresh_user}/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "POST", Path: "/api/admin/users/{fresh_user}/logout-everywhere/", Kind: protected, Admin: is(204), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/users/{fresh_user}/logout-everywhere/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/settings/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "PUT", Path: "/api/admin/settings/", Kind: protected, Admin: is(200), Staff: is(403),
		Body: func(f *matrixWorld) any { return map[string]string{policy.DoctorsWrites: f.policies.DoctorsWrites} }},
	{Method: "DELETE", Path: "/api/admin/settings/", Kind: protected, Admin: is(405), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/settings/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/backups/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "POST", Path: "/api/admin/backups/", Kind: protected, Admin: is(201), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/backups/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/backups/{backup}", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/backups/healthcare-20000101T000000Z-v1.backup", Kind: protected, Admin: is(404), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/backups/{backup}", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/audit/?actor=alice&action=read&since=2020-01-01T00:00:00Z", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/audit/?action=bogus", Kind: protected, Admin: is(400), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/audit/", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "POST", Path: "/api/admin/audit/", Kind: protected, Admin: is(405), Staff: is(403)},
	{Method: "GET", Path: "/api/admin/audit/export/?resource=patient", Kind: protected, Admin: is(200), Staff: is(403)},
	{Method: "OPTIONS", Path: "/api/admin/audit/export/", Kind: protected, Admin: is(200), Staff: is(403)},
}

// registration is what POST /api/auth/register/ answers under the registration policy.
func registration(p policy.Policies) int {
	if p.Registration == policy.RegistrationClosed {
		return 403
	}
	return 201
}

// matrixPolicies give every value of every policy at least once (clinic needs registration
// approval or closed); the first is the defaults: the original's behaviour.
var matrixPolicies = []policy.Policies{
	{Registration: "open", PatientsVisibility: "owner", DoctorsWrites: "any"},
	{Registration: "approval", PatientsVisibility: "owner", DoctorsWrites: "any"},
	{Registration: "closed", PatientsVisibility: "owner", DoctorsWrites: "admin"},
	{Registration: "approval", PatientsVisibility: "clinic", DoctorsWrites: "any"},
	{Registration: "closed", PatientsVisibility: "clinic", DoctorsWrites: "admin"},
}

// expected is what caller gets for row under p.
func (row matrixRow) expected(caller string, p policy.Policies) int {
	switch {
	case row.Kind == public && (caller == asAdmin):
		return row.Admin(p)
	case row.Kind == public:
		return row.Staff(p)
	case caller == asAnonymous || caller == asDeactivated:
		return 401
	case caller == asPending && row.Kind != passwordPending:
		return 403
	case caller == asAdmin:
		return row.Admin(p)
	default: // staff, and pending on its own account's routes
		return row.Staff(p)
	}
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	for _, p := range matrixPolicies {
		name := fmt.Sprintf("registration=%s,visibility=%s,doctors=%s", p.Registration, p.PatientsVisibility, p.DoctorsWrites)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newMatrixWorld(t, p)
			for _, row := range matrixRows {
				for _, caller := range matrixCallers {
					f.run(t, row, caller)
				}
			}
		})
	}
}

// matrixWorld is one server under one set of policies, with its accounts and records: alice
// (staff, the "staff" caller) and bob (staff, whose patient is "the other account's"), root (an
// administrator), carol (deactivated after she signed in), dave (must change his password).
type matrixWorld struct {
	t            *testing.T
	e            *apitest.Env
	policies     policy.Policies
	tokens       map[string]string
	carolToken   string
	doctor       int64 // shared, assigned by alice and bob
	ownPatient   map[string]int64
	otherPatient int64 // bob's
	otherMapping int64 // bob's patient to the shared doctor
	ownMapping   int64
	backupName   string
	seq          atomic.Int64
}

func newMatrixWorld(t *testing.T, p policy.Policies) *matrixWorld {
	e := apitest.New(t)
	f := &matrixWorld{t: t, e: e, policies: p, tokens: map[string]string{}, ownPatient: map[string]int64{}}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		e.Register(t, u)
	}
	e.Admin("root")
	f.carolToken, _ = e.Login("carol")
	e.MustExec(`UPDATE users SET is_active = false, token_generation = token_generation + 1 WHERE username = 'carol'`)
	bob, _ := e.Login("bob")
	f.doctor = f.create(t, "/api/doctors/", bob, map[string]string{"name": "Dr Shared", "specialization": "GP", "contact_info": "shared@doctors.example"})
	f.otherPatient = f.create(t, "/api/patients/", bob, map[string]any{"name": "Bob's patient", "age": 50, "gender": "M", "address": "Road 9", "phone_number": "555-0900"})
	f.otherMapping = f.create(t, "/api/mappings/", bob, map[string]any{"patient": f.otherPatient, "doctor": f.doctor})
	for _, caller := range []string{asAdmin, asStaff} {
		tok := f.token(t, caller)
		f.ownPatient[caller] = f.create(t, "/api/patients/", tok, map[string]any{"name": "Own", "age": 20, "gender": "F", "address": "Road 1", "phone_number": "555-0100"})
	}
	f.ownMapping = f.create(t, "/api/mappings/", f.token(t, asStaff), map[string]any{"patient": f.ownPatient[asStaff], "doctor": f.doctor})
	path, _, err := backup.Now(context.Background(), e.Store().Pool(), backup.Dir(e.Config.DataDir), 5, "healthcare test", "matrix", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.backupName = path[strings.LastIndexByte(path, '/')+1:]
	// The policies last: the fixtures above were made the same way under every policy.
	e.SetPolicy(policy.Registration, p.Registration)
	e.SetPolicy(policy.PatientsVisibility, p.PatientsVisibility)
	e.SetPolicy(policy.DoctorsWrites, p.DoctorsWrites)
	return f
}

// users are the matrix callers' accounts.
var matrixUsers = map[string]string{asAdmin: "root", asStaff: "alice", asPending: "dave"}

// token is a live access token of caller ("" for anonymous): signed in once, again after a
// request that ended its logins. The pending caller is flagged again before every request, since
// its own password change lifts the flag.
func (f *matrixWorld) token(t *testing.T, caller string) string {
	switch caller {
	case asAnonymous:
		return ""
	case asDeactivated:
		return f.carolToken
	case asPending:
		f.e.MustExec(`UPDATE users SET must_change_password = true WHERE username = 'dave'`)
	}
	if tok := f.tokens[caller]; tok != "" {
		return tok
	}
	tok, _ := f.e.Login(matrixUsers[caller])
	f.tokens[caller] = tok
	return tok
}

func (f *matrixWorld) create(t *testing.T, path, token string, body any) int64 {
	t.Helper()
	r := f.e.Post(path, token, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("arrange: POST %s: %d %s", path, r.Status, r.Body)
	}
	var v struct{ ID int64 }
	r.Decode(t, &v)
	return v.ID
}

func (f *matrixWorld) unique(prefix string) string { return fmt.Sprintf("%s%d", prefix, f.seq.Add(1)) }

func (f *matrixWorld) phone() string { return fmt.Sprintf("555-%04d", f.seq.Add(1)) }

// freshDoctor is a new doctor nobody assigned, made by an administrator.
func (f *matrixWorld) freshDoctor() int64 {
	return f.create(f.t, "/api/doctors/", f.token(f.t, asAdmin), map[string]string{
		"name": "Dr Fresh", "specialization": "GP", "contact_info": f.unique("fresh") + "@doctors.example"})
}

// placeholder returns the fixture a path placeholder names, fresh for destructive requests.
func (f *matrixWorld) placeholder(t *testing.T, name, caller string) string {
	id := func(n int64) string { return fmt.Sprint(n) }
	db := context.Background()
	switch name {
	case "doctor":
		return id(f.doctor)
	case "fresh_doctor":
		return id(f.freshDoctor())
	case "doctor_assigned_by_other":
		d := f.freshDoctor()
		// Bob's assignment, made directly so the policies in force do not matter.
		f.e.MustExec(`INSERT INTO assignments (patient_id, doctor_id, assigned_by) SELECT $1, $2, managed_by FROM patients WHERE id = $1`, f.otherPatient, d)
		return id(d)
	case "own_patient":
		return id(f.ownPatient[caller])
	case "other_patient":
		return id(f.otherPatient)
	case "fresh_other_patient":
		var pid int64
		if err := f.e.Store().Pool().QueryRow(db, `INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			SELECT id, 'Bob''s other', 40, 'O', 'Road 8', $1 FROM users WHERE username = 'bob' RETURNING id`, f.phone()).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return id(pid)
	case "other_mapping":
		return id(f.otherMapping)
	case "own_mapping":
		return id(f.ownMapping)
	case "fresh_other_mapping":
		var mid int64
		if err := f.e.Store().Pool().QueryRow(db, `INSERT INTO assignments (patient_id, doctor_id, assigned_by)
			SELECT $1, $2, managed_by FROM patients WHERE id = $1 RETURNING id`, f.otherPatient, f.freshDoctor()).Scan(&mid); err != nil {
			t.Fatal(err)
		}
		return id(mid)
	case "fresh_user":
		n := f.unique("temp")
		u, err := f.e.Store().CreateUser(db, store.NewUser{Username: n, Email: n + "@example.com", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return id(u.ID)
	case "my_other_session":
		user, ok := matrixUsers[caller]
		if !ok {
			return uuid.NewString() // a caller that cannot sign in: any id
		}
		f.e.Login(user)
		sessions, err := f.e.Store().ListSessions(db, f.e.UserID(user), f.e.Auth.Limits())
		if err != nil {
			t.Fatal(err)
		}
		return sessions[0].ID.String() // newest first: the login just made
	case "backup":
		return f.backupName
	}
	t.Fatalf("unknown placeholder {%s}", name)
	return ""
}

// run makes row's request as caller and checks the status (and, on success, row.Check).
func (f *matrixWorld) run(t *testing.T, row matrixRow, caller string) {
	t.Helper()
	path := row.Path
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(path[i:], '}')
		path = path[:i] + f.placeholder(t, path[i+1:i+j], caller) + path[i+j+1:]
	}
	var b any
	if row.Body != nil {
		b = row.Body(f)
	}
	tok := f.token(t, caller)
	r := f.e.Do(apitest.Request{Method: row.Method, Path: path, Token: tok, Body: b})
	wantStatus := row.expected(caller, f.policies)
	if r.Status != wantStatus {
		t.Errorf("%s %s as %s: %d, want %d: %s", row.Method, row.Path, caller, r.Status, wantStatus, r.Body)
		return
	}
	switch {
	case wantStatus == 403 && caller == asPending && row.Kind == protected && !strings.HasPrefix(row.Path, "/api/admin/"):
		// (On an administrators' route the role's 403 comes first.)
		if !strings.Contains(string(r.Body), `"code":"password_change_required"`) {
			t.Errorf("%s %s as %s: 403 without code password_change_required: %s", row.Method, row.Path, caller, r.Body)
		}
	case wantStatus == 403 && row.Kind != public:
		if string(r.Body) != `{"detail":"You do not have permission to perform this action."}` {
			t.Errorf("%s %s as %s: 403 body %s", row.Method, row.Path, caller, r.Body)
		}
	case wantStatus < 300 && row.Check != nil:
		row.Check(t, f, caller, f.policies, r)
	}
	if row.EndsLogins && r.Status < 300 {
		delete(f.tokens, caller)
	}
}
