package importer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/api/apitest"
	"healthcare/app/database/dbtest"
	"healthcare/app/importer"
	"healthcare/app/importer/djangotest"
)

func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

// original creates the original system's database with the fixture, and a role that may only
// read its four tables: the importer connects as that role, which proves it needs nothing more.
func original(t *testing.T) (readOnlyURL string, conn *pgx.Conn, f *djangotest.Fixture) {
	t.Helper()
	ctx := context.Background()
	admin := dbtest.URL(t)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if err := djangotest.Create(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if f, err = djangotest.Fill(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return readOnlyRole(t, conn, admin), conn, f
}

// readOnlyRole creates a login role allowed to SELECT the original's four tables and nothing else,
// and returns adminURL with that role's credentials.
func readOnlyRole(t *testing.T, conn *pgx.Conn, adminURL string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	role, pw := "django_ro_"+hex.EncodeToString(b), hex.EncodeToString(b)+"-pw"
	const tables = "auth_user, api_doctor, api_patient, api_patientdoctormapping"
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'; GRANT SELECT ON %s TO %s`, role, pw, tables, role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), fmt.Sprintf(`REVOKE ALL ON %s FROM %s; DROP ROLE %s`, tables, role, role))
	})
	u, _ := url.Parse(adminURL)
	u.User = url.UserPassword(role, pw)
	return u.String()
}

func run(t *testing.T, pool *pgxpool.Pool, source string, dryRun bool) (*importer.Report, error) {
	t.Helper()
	ctx := context.Background()
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	var steps []string
	r, err := importer.Run(ctx, c.Conn(), importer.Options{Source: source, DryRun: dryRun, Progress: func(p importer.Progress) {
		if s := p.Step + " " + p.Table; !slices.Contains(steps, s) {
			steps = append(steps, s)
		}
	}})
	if err == nil {
		want := []string{"reading auth_user", "reading api_doctor", "reading api_patient", "reading api_patientdoctormapping",
			"checking ", "writing users", "writing doctors", "writing patients", "writing assignments"}
		if !reflect.DeepEqual(steps, want) {
			t.Errorf("progress steps %q, want %q", steps, want)
		}
	}
	if r != nil {
		var buf bytes.Buffer
		r.Write(&buf)
		t.Logf("report:%s", buf.String())
	}
	return r, err
}

// snapshot is every row and identity sequence of a database's tables, as text.
func snapshot(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, tables ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		rows, err := q.Query(context.Background(), fmt.Sprintf(
			`SELECT coalesce(string_agg(row_to_json(x)::text, E'\n' ORDER BY x.id), '') || E'\nsequence: ' ||
			        coalesce(pg_sequence_last_value(pg_get_serial_sequence('%[1]s', 'id')::regclass)::text, 'unused')
			 FROM %[1]s x`, table))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		v, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = v
	}
	return out
}

var (
	ourTables      = []string{"users", "doctors", "patients", "assignments"}
	originalTables = []string{"auth_user", "api_doctor", "api_patient", "api_patientdoctormapping", "django_admin_log"}
)

func table(r *importer.Report, target string) *importer.TableReport {
	for _, t := range r.Tables {
		if t.Target == target {
			return t
		}
	}
	return nil
}

func reasons(issues []importer.Issue) map[int64]string {
	out := map[int64]string{}
	for _, is := range issues {
		out[is.ID] = is.Reason
	}
	return out
}

// checkReport compares the report of a first import of the fixture with what the fixture says.
func checkReport(t *testing.T, r *importer.Report, f *djangotest.Fixture) {
	t.Helper()
	type counts struct{ read, imported, present, skipped int64 }
	want := map[string]counts{}
	skips := map[string]map[int64]string{"users": {}, "doctors": {}, "patients": {}, "assignments": {}}
	add := func(table, skip string, id int64) {
		c := want[table]
		c.read++
		if skip == "" {
			c.imported++
		} else {
			c.skipped++
			skips[table][id] = skip
		}
		want[table] = c
	}
	for _, u := range f.Users {
		add("users", u.Skip, u.ID)
	}
	for _, d := range f.Doctors {
		add("doctors", d.Skip, d.ID)
	}
	for _, p := range f.Patients {
		add("patients", p.Skip, p.ID)
	}
	for _, m := range f.Mappings {
		add("assignments", m.Skip, m.ID)
	}
	for _, name := range ourTables {
		tr := table(r, name)
		if tr == nil {
			t.Fatalf("no %s in the report", name)
		}
		got := counts{tr.Read, tr.Imported, tr.Present, int64(len(tr.Skipped))}
		if got != want[name] {
			t.Errorf("%s: read/imported/present/skipped %v, want %v", name, got, want[name])
		}
		gotSkips := reasons(tr.Skipped)
		for id, part := range skips[name] {
			if !strings.Contains(gotSkips[id], part) {
				t.Errorf("%s %d: skipped because %q, want a reason containing %q", name, id, gotSkips[id], part)
			}
		}
	}
	changed := reasons(table(r, "users").Changed)
	for _, u := range f.Users {
		var parts []string
		if u.EmailHere != "" {
			parts = append(parts, "set to user-<id>@imported.invalid")
		}
		if u.MustChange {
			parts = append(parts, "needs a new password")
		}
		for _, p := range parts {
			if !strings.Contains(changed[u.ID], p) {
				t.Errorf("user %d (%s): change %q not reported (got %q)", u.ID, u.Username, p, changed[u.ID])
			}
		}
		if len(parts) == 0 && changed[u.ID] != "" {
			t.Errorf("user %d (%s): unexpected change %q", u.ID, u.Username, changed[u.ID])
		}
	}
	if !strings.Contains(changed[11], "also that of user 2 (Alice)") || !strings.Contains(changed[9], "no email address") {
		t.Errorf("email changes not explained: %v", changed)
	}
	notes := strings.Join(table(r, "users").Notes, "\n")
	if !strings.Contains(notes, "1 imported account has a first or last name") || !strings.Contains(notes, "1 imported account was Django staff") {
		t.Errorf("notes: %s", notes)
	}
	next := map[string]int64{}
	for _, n := range r.NextIDs {
		next[n.Table] = n.Next
	}
	// Past every id of the original, imported or not.
	if want := map[string]int64{"users": 16, "doctors": 6, "patients": 11, "assignments": 11}; !reflect.DeepEqual(next, want) {
		t.Errorf("next ids %v, want %v", next, want)
	}
}

// checkRows compares every imported row with the original's.
func checkRows(t *testing.T, pool *pgxpool.Pool, src *pgx.Conn, f *djangotest.Fixture) {
	t.Helper()
	ctx := context.Background()
	rowsOf := func(q interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}, sql string) map[int64]map[string]any {
		rows, err := q.Query(ctx, `SELECT id, row_to_json(x)::text FROM (`+sql+`) x`)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out := map[int64]map[string]any{}
		for rows.Next() {
			var id int64
			var js string
			if err := rows.Scan(&id, &js); err != nil {
				t.Fatal(err)
			}
			m := map[string]any{}
			if err := json.Unmarshal([]byte(js), &m); err != nil {
				t.Fatal(err)
			}
			out[id] = m
		}
		return out
	}
	// What each of the original's rows must be here; the timestamps' text is compared in UTC.
	if _, err := src.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	emails := map[int64]string{}
	must := map[int64]bool{}
	imported := map[string]map[int64]bool{"users": {}, "doctors": {}, "patients": {}, "assignments": {}}
	for _, u := range f.Users {
		emails[u.ID] = u.EmailHere
		must[u.ID] = u.MustChange
		imported["users"][u.ID] = u.Imported
	}
	for _, d := range f.Doctors {
		imported["doctors"][d.ID] = d.Skip == ""
	}
	for _, p := range f.Patients {
		imported["patients"][p.ID] = p.Skip == ""
	}
	for _, m := range f.Mappings {
		imported["assignments"][m.ID] = m.Skip == ""
	}
	srcUsers := rowsOf(src, `SELECT id, username, email, password AS password_hash, is_active, date_joined, last_login,
		CASE WHEN is_superuser THEN 'admin' ELSE 'staff' END AS role FROM auth_user`)
	for id, u := range srcUsers {
		if e := emails[id]; e != "" {
			u["email"] = e // the original's was empty or another account's
		}
	}
	compare := func(name string, want, got map[int64]map[string]any) {
		for id, w := range want {
			g, ok := got[id]
			switch {
			case !imported[name][id] && ok:
				t.Errorf("%s %d was imported but should not be: %v", name, id, g)
			case imported[name][id] && !reflect.DeepEqual(g, w):
				t.Errorf("%s %d:\n got  %v\n want %v", name, id, g, w)
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s %d is here but not in the original", name, id)
			}
		}
	}
	compare("users", srcUsers, rowsOf(pool, `SELECT id, username, email, password_hash, is_active, date_joined, last_login, role FROM users`))
	gotMust := rowsOf(pool, `SELECT id, must_change_password FROM users`)
	for id, m := range must {
		if imported["users"][id] && gotMust[id]["must_change_password"] != m {
			t.Errorf("user %d: %v, want must_change_password %v", id, gotMust[id], m)
		}
	}
	compare("doctors", rowsOf(src, `SELECT id, name, specialization, contact_info, created_at, updated_at FROM api_doctor`),
		rowsOf(pool, `SELECT id, name, specialization, contact_info, created_at, updated_at FROM doctors`))
	compare("patients", rowsOf(src, `SELECT id, managed_by_id AS managed_by, name, age, gender, address, phone_number, created_at, updated_at FROM api_patient`),
		rowsOf(pool, `SELECT id, managed_by, name, age, gender, address, phone_number, created_at, updated_at FROM patients`))
	compare("assignments", rowsOf(src, `SELECT m.id, m.patient_id, m.doctor_id, m.assigned_at, p.managed_by_id AS assigned_by
		FROM api_patientdoctormapping m JOIN api_patient p ON p.id = m.patient_id`),
		rowsOf(pool, `SELECT id, patient_id, doctor_id, assigned_at, assigned_by FROM assignments`))
}

func login(e *apitest.Env, username, password string) (int, string) {
	resp := e.Post("/api/auth/login/", "", map[string]string{"username": username, "password": password})
	var out struct{ Access string }
	if resp.Status == http.StatusOK {
		resp.Decode(e.T, &out)
	}
	return resp.Status, out.Access
}

func passwordHash(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var h string
	if err := pool.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE id = $1", id).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func ids(t *testing.T, e *apitest.Env, path, token string) []int64 {
	t.Helper()
	resp := e.Get(path, token)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.Status, resp.Body)
	}
	var list []struct{ ID int64 }
	resp.Decode(t, &list)
	var out []int64
	for _, x := range list {
		out = append(out, x.ID)
	}
	return out
}

// TestImport is the whole story: import the original, every row here with its ids and
// relationships, every user logs in with the old password (which becomes ours), work goes on with
// new ids, a second import changes nothing, and the original was never written to.
func TestImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	source, src, f := original(t)
	before := snapshot(t, src, originalTables...)
	pool := dbtest.Pool(t)

	r, err := run(t, pool, source, false)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r, f)
	checkRows(t, pool, src, f)
	// The import is in the audit trail, with how many rows came in and nothing of their content.
	var audited, importedRows int64
	if err := pool.QueryRow(context.Background(), "SELECT count(*), coalesce(sum(row_count), 0) FROM audit_log WHERE action = 'import'").Scan(&audited, &importedRows); err != nil || audited != 1 || importedRows == 0 {
		t.Errorf("audit rows of the import: %d with %d rows (%v)", audited, importedRows, err)
	}

	e := apitest.NewOnPool(t, pool)
	for _, u := range f.Users {
		if u.Password == "" {
			u.Password = "Any-Guess-1" // frank's unusable password matches nothing
		}
		if !u.Imported {
			if status, _ := login(e, u.Username, u.Password); status != http.StatusUnauthorized {
				t.Errorf("%s (not imported) logs in: %d", u.Username, status)
			}
			continue
		}
		old := passwordHash(t, pool, u.ID)
		status, _ := login(e, u.Username, u.Password)
		now := passwordHash(t, pool, u.ID)
		switch {
		case u.CanLogIn && status != http.StatusOK:
			t.Errorf("%s cannot log in with the original's password: %d", u.Username, status)
		case u.CanLogIn && !strings.HasPrefix(now, "$argon2id$"):
			t.Errorf("%s logged in but the stored hash is still %q", u.Username, now)
		case !u.CanLogIn && (status != http.StatusUnauthorized || now != old):
			t.Errorf("%s: login %d (want 401), hash %q → %q", u.Username, status, old, now)
		}
		if u.CanLogIn {
			if status, _ := login(e, u.Username, u.Password); status != http.StatusOK {
				t.Errorf("%s cannot log in a second time, with our hash: %d", u.Username, status)
			}
			if status, _ := login(e, u.Username, u.Password+"x"); status != http.StatusUnauthorized {
				t.Errorf("%s logs in with a wrong password: %d", u.Username, status)
			}
		}
	}

	// Each owner sees exactly their patients, assignments and the doctors assigned.
	_, alice := login(e, "Alice", f.User(2).Password)
	if got := ids(t, e, "/api/patients/", alice); !slices.Equal(got, []int64{1, 2, 7}) {
		t.Errorf("Alice's patients %v", got)
	}
	if got := ids(t, e, "/api/mappings/", alice); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("Alice's mappings %v", got)
	}
	if got := ids(t, e, "/api/patients/1/doctors/", alice); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("doctors of patient 1: %v", got)
	}
	_, zoe := login(e, "Zoë_Łukasz", f.User(6).Password)
	if got := ids(t, e, "/api/mappings/", zoe); !slices.Equal(got, []int64{8}) {
		t.Errorf("Zoë's mappings %v", got)
	}
	_, bob := login(e, "bob", f.User(3).Password)
	if got := ids(t, e, "/api/patients/", bob); len(got) != 0 {
		t.Errorf("bob had no patients, now %v", got)
	}
	if got := ids(t, e, "/api/doctors/", bob); !slices.Equal(got, []int64{1, 2, 4}) {
		t.Errorf("doctors %v", got)
	}

	// Work goes on: new rows get ids past the original's.
	newID := e.Register(t, "newcomer")
	if newID != 16 {
		t.Errorf("a new account got id %d, want 16", newID)
	}
	resp := e.Post("/api/patients/", alice, map[string]any{"name": "New", "age": 1, "gender": "F", "address": "a", "phone_number": "999"})
	var p struct{ ID int64 }
	resp.Decode(t, &p)
	if resp.Status != http.StatusCreated || p.ID != 11 {
		t.Errorf("new patient: %d %s, want id 11", resp.Status, resp.Body)
	}

	// A second import finds everything here (logins changed the hashes: still the same accounts)
	// and changes nothing.
	here := snapshot(t, pool, ourTables...)
	r2, err := run(t, pool, source, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range r2.Tables {
		first := table(r, tr.Target)
		if tr.Imported != 0 || tr.Present != first.Imported || len(tr.Skipped) != len(first.Skipped) {
			t.Errorf("second import of %s: imported %d, here already %d (want %d), skipped %d", tr.Target, tr.Imported, tr.Present, first.Imported, len(tr.Skipped))
		}
	}
	if len(r2.NextIDs) != 0 {
		t.Errorf("second import moved sequences: %v", r2.NextIDs)
	}
	if after := snapshot(t, pool, ourTables...); !reflect.DeepEqual(after, here) {
		t.Errorf("the second import changed the data")
	}
	if after := snapshot(t, src, originalTables...); !reflect.DeepEqual(after, before) {
		t.Errorf("the original's database changed")
	}
	var roles []string
	rows, _ := pool.Query(ctx, "SELECT role FROM users WHERE id IN (1, 2) ORDER BY id")
	roles, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if !slices.Equal(roles, []string{"admin", "staff"}) {
		t.Errorf("roles of the superuser and a user: %v", roles)
	}
}

// TestTrimmedPasswordOnce: a user registered in the original with surrounding spaces logs in with
// what they type; the hash becomes ours of exactly that, so it keeps working.
func TestTrimmedPasswordOnce(t *testing.T) {
	t.Parallel()
	source, _, f := original(t)
	pool := dbtest.Pool(t)
	if _, err := run(t, pool, source, false); err != nil {
		t.Fatal(err)
	}
	e := apitest.NewOnPool(t, pool)
	heidi := f.User(14)
	for i := range 2 {
		if status, _ := login(e, heidi.Username, heidi.Password); status != http.StatusOK {
			t.Fatalf("login %d with %q: %d", i+1, heidi.Password, status)
		}
		if h := passwordHash(t, pool, 14); !strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("hash after login %d: %q", i+1, h)
		}
	}
	if status, _ := login(e, heidi.Username, " Heidi secret "); status != http.StatusUnauthorized {
		t.Errorf("our hash is exact, another padding logs in: %d", status)
	}
}

// TestDryRunWritesNothing: the dry run reports what the import does, exactly, and changes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	source, _, f := original(t)
	pool := dbtest.Pool(t)
	before := snapshot(t, pool, ourTables...)
	dry, err := run(t, pool, source, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun {
		t.Error("report not marked as a dry run")
	}
	checkReport(t, dry, f)
	if after := snapshot(t, pool, ourTables...); !reflect.DeepEqual(after, before) {
		t.Errorf("the dry run changed the database:\n%v\n%v", before, after)
	}
	real, err := run(t, pool, source, false)
	if err != nil {
		t.Fatal(err)
	}
	dry.DryRun, dry.Took, real.Took = false, 0, 0
	for i := range dry.Tables {
		dry.Tables[i].Took, real.Tables[i].Took = 0, 0
	}
	if !reflect.DeepEqual(dry, real) {
		t.Errorf("the dry run's report differs from the import's")
	}
}

// TestCollisionsRefused: data here that takes an id or a unique value of the original refuses the
// whole import with the list; data that collides with nothing is fine.
func TestCollisionsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	source, _, _ := original(t)
	pool := dbtest.Pool(t)
	e := apitest.NewOnPool(t, pool)
	e.Register(t, "ALICE")   // id 1: the original's admin's id; Alice's username
	e.Register(t, "someone") // id 2
	e.MustExec(`UPDATE users SET email = 'zoe@CLINIC.example' WHERE id = 2`)
	token, _ := e.Login("someone")
	e.Post("/api/doctors/", token, map[string]string{"name": "Dr. Here", "specialization": "GP", "contact_info": "here@clinic.example"})
	e.Post("/api/doctors/", token, map[string]string{"name": "Dr. Too", "specialization": "GP", "contact_info": "ayse@clinic.example"})
	before := snapshot(t, pool, ourTables...)

	r, err := run(t, pool, source, false)
	var ce *importer.CollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("import into a database with colliding rows: %v", err)
	}
	var got []string
	for _, c := range r.Collisions {
		got = append(got, c.Table+": "+c.Reason)
	}
	for _, want := range []string{
		"users: user id 1 (admin in the original) is taken here by ALICE",
		"users: user id 2 (Alice in the original) is taken here by someone",
		"users: username Alice (user 2 in the original) is taken here by user 1 (ALICE)",
		"users: email address zoe@clinic.example (user 6, Zoë_Łukasz, in the original) is taken here by user 2 (someone)",
		"doctors: doctor id 1 (Dr. Ayşe Yılmaz in the original) is taken here by Dr. Here",
		"doctors: doctor id 2 (Dr. 王芳 in the original) is taken here by Dr. Too",
		"doctors: contact_info ayse@clinic.example (doctor 1 in the original) is taken here by doctor 2",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("collision %q not reported; got:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if after := snapshot(t, pool, ourTables...); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused import changed the database")
	}
	var buf bytes.Buffer
	r.Write(&buf)
	if !strings.Contains(buf.String(), fmt.Sprintf("Refused: %d rows of the original collide with data already", len(r.Collisions))) {
		t.Errorf("report:\n%s", buf.String())
	}

	// Data that collides with nothing: rows past the original's ids, other names.
	pool2 := dbtest.Pool(t)
	e2 := apitest.NewOnPool(t, pool2)
	for _, table := range ourTables {
		if _, err := pool2.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), 1000)`, table)); err != nil {
			t.Fatal(err)
		}
	}
	e2.Register(t, "zed")
	if r, err := run(t, pool2, source, false); err != nil || table(r, "users").Imported != 12 {
		t.Fatalf("import beside unrelated data: %v", err)
	}
	if id := e2.Register(t, "zed2"); id != 1002 {
		t.Errorf("sequence moved back: new user id %d", id)
	}
}

// TestPhoneNumberTooLong: an original whose phone_number column was widened (its model allowed
// more than our 15 characters) has patients that cannot be imported: each is named with the
// reason, and their assignments follow.
func TestPhoneNumberTooLong(t *testing.T) {
	t.Parallel()
	source, src, _ := original(t)
	ctx := context.Background()
	if _, err := src.Exec(ctx, `ALTER TABLE api_patient ALTER COLUMN phone_number TYPE varchar(20);
		UPDATE api_patient SET phone_number = '+1 (555) 0100-2002' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	pool := dbtest.Pool(t)
	r, err := run(t, pool, source, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := reasons(table(r, "patients").Skipped)[2]; got != "the phone number has 18 characters (at most 15 here)" {
		t.Errorf("patient 2: %q", got)
	}
	if got := reasons(table(r, "assignments").Skipped)[3]; got != "its patient 2 is not imported" {
		t.Errorf("mapping 3: %q", got)
	}
}

// TestNotTheOriginal: a database without the original's tables is named for what it lacks.
func TestNotTheOriginal(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	_, err := run(t, pool, dbtest.URL(t), false)
	if err == nil || !strings.Contains(err.Error(), "has no table auth_user") {
		t.Errorf("import from an empty database: %v", err)
	}
	_, err = run(t, pool, "postgres://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=5", false)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to the original database (postgres://nobody@127.0.0.1:1/none)") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("unreachable original: %v", err)
	}
}

// TestLargeImport measures an import of 100,000 patients and 300,000 assignments (1,000 users, 500
// doctors) and checks that it is complete; the time is logged, not asserted.
func TestLargeImport(t *testing.T) {
	if testing.Short() {
		t.Skip("large import skipped in -short mode")
	}
	ctx := context.Background()
	admin := dbtest.URL(t)
	src, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if err := djangotest.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := djangotest.FillLarge(ctx, src, 1000, 500, 100_000, 300_000); err != nil {
		t.Fatal(err)
	}
	t.Logf("original filled in %s", time.Since(begin).Round(time.Millisecond))
	pool := dbtest.Pool(t)
	begin = time.Now()
	r, err := run(t, pool, admin, false)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	for _, tr := range r.Tables {
		if tr.Imported != tr.Read || len(tr.Skipped) != 0 {
			t.Errorf("%s: %d of %d imported", tr.Target, tr.Imported, tr.Read)
		}
	}
	var n int64
	pool.QueryRow(ctx, "SELECT count(*) FROM assignments").Scan(&n)
	if n != 300_000 {
		t.Errorf("%d assignments here", n)
	}
	t.Logf("imported 1,000 users, 500 doctors, 100,000 patients and 300,000 assignments in %s", took.Round(time.Millisecond))

	// Again: everything is here already, nothing changes.
	before := snapshot(t, pool, ourTables...)
	begin = time.Now()
	r, err = run(t, pool, admin, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range r.Tables {
		if tr.Imported != 0 || tr.Present != tr.Read {
			t.Errorf("second import of %s: %d imported, %d of %d here already", tr.Target, tr.Imported, tr.Present, tr.Read)
		}
	}
	if after := snapshot(t, pool, ourTables...); !reflect.DeepEqual(after, before) {
		t.Error("the second import changed the data")
	}
	t.Logf("second import (nothing new) in %s", time.Since(begin).Round(time.Millisecond))
}
