package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
	"healthcare/app/database/dbtest"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// sealedAudit verifies the trail once every row is sealed. Sealing waits for the cluster's older
// writing transactions, and other tests write in other databases of the same cluster.
func sealedAudit(t *testing.T, st *store.Store) store.AuditVerified {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		v, brk, err := st.VerifyAudit(context.Background())
		if err != nil || brk != nil || time.Now().After(deadline) {
			t.Fatalf("verify: %+v, break %v, %v", v, brk, err)
		}
		if v.Pending == 0 {
			return v
		}
	}
}

// auditRow is what a test checks of a request's audit row.
type auditRow struct {
	user, action, resource string
	status                 int
}

// auditOf returns the audit rows of the request with id rid (after the recorder wrote them).
func auditOf(t *testing.T, e *apitest.Env, rid string) []auditRow {
	t.Helper()
	e.Audit.Flush()
	rows, err := e.Store().Pool().Query(context.Background(),
		`SELECT username, action, resource, status FROM audit_log WHERE request_id = $1 ORDER BY seq`, rid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.user, &r.action, &r.resource, &r.status); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestAuditEveryRoute: each audited route, as admin and staff, leaves exactly the row it should
// (actor, action, resource, outcome); unaudited ones (OPTIONS, the doctor directory's reads) none.
func TestAuditEveryRoute(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	e.Register(t, "bob")
	e.Admin("root")
	alice, _ := e.Login("alice")
	root, _ := e.Login("root")
	bob, _ := e.Login("bob")
	mk := func(path, tok string, body any) int64 {
		r := e.Post(path, tok, body)
		if r.Status != 201 {
			t.Fatalf("arrange %s: %d %s", path, r.Status, r.Body)
		}
		var v struct{ ID int64 }
		r.Decode(t, &v)
		return v.ID
	}
	doc := mk("/api/doctors/", alice, map[string]string{"name": "Dr A", "specialization": "GP", "contact_info": "a@d.example"})
	own := mk("/api/patients/", alice, map[string]any{"name": "P", "age": 3, "gender": "F", "address": "R", "phone_number": "555-1"})
	others := mk("/api/patients/", bob, map[string]any{"name": "Q", "age": 3, "gender": "F", "address": "R", "phone_number": "555-2"})
	_, refresh := e.Login("alice")
	// Two rotations: the first token is then a retired one, not the grace window's.
	rotate := func(raw string) string {
		var v struct{ Refresh string }
		e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": raw}).Decode(t, &v)
		return v.Refresh
	}
	latest := rotate(rotate(refresh))
	cases := []struct {
		tok          string
		method, path string
		body         any
		want         []auditRow // nil: no row
	}{
		{alice, "GET", "/api/patients/?search=x&gender=F", nil, []auditRow{{"alice", "search", "patient", 200}}},
		{alice, "GET", "/api/patients/", nil, []auditRow{{"alice", "list", "patient", 200}}},
		{alice, "GET", fmt.Sprintf("/api/patients/%d/", own), nil, []auditRow{{"alice", "read", "patient", 200}}},
		{alice, "GET", fmt.Sprintf("/api/patients/%d/", others), nil, []auditRow{{"alice", "read", "patient", 404}}},
		{alice, "PATCH", fmt.Sprintf("/api/patients/%d/", own), map[string]any{"age": 4}, []auditRow{{"alice", "update", "patient", 200}}},
		{alice, "PATCH", fmt.Sprintf("/api/patients/%d/", own), map[string]any{"age": -1}, []auditRow{{"alice", "update", "patient", 400}}},
		{alice, "GET", fmt.Sprintf("/api/patients/%d/doctors/", own), nil, []auditRow{{"alice", "read", "patient_doctors", 200}}},
		{alice, "POST", "/api/mappings/", map[string]any{"patient": own, "doctor": doc}, []auditRow{{"alice", "assign", "assignment", 201}}},
		{alice, "GET", "/api/mappings/?patient=1", nil, []auditRow{{"alice", "list", "assignment", 200}}},
		{alice, "OPTIONS", "/api/patients/", nil, nil},
		{alice, "GET", "/api/doctors/", nil, nil},
		{alice, "PATCH", fmt.Sprintf("/api/doctors/%d/", doc), map[string]any{"name": "Dr B"}, []auditRow{{"alice", "update", "doctor", 200}}},
		{alice, "GET", fmt.Sprintf("/api/patients/%d/audit/", own), nil, []auditRow{{"alice", "read", "audit", 200}}},
		{alice, "GET", fmt.Sprintf("/api/patients/%d/audit/", others), nil, []auditRow{{"alice", "read", "audit", 404}}},
		{alice, "GET", "/api/admin/audit/", nil, []auditRow{{"alice", "list", "audit", 403}}},
		{alice, "DELETE", fmt.Sprintf("/api/patients/%d/", own), nil, []auditRow{{"alice", "delete", "patient", 204}}},
		{root, "GET", "/api/admin/audit/?action=read&actor=alice", nil, []auditRow{{"root", "list", "audit", 200}}},
		{root, "GET", "/api/admin/audit/export/?actor=alice", nil, []auditRow{{"root", "export", "audit", 200}}},
		{root, "GET", "/api/admin/users/", nil, []auditRow{{"root", "list", "user", 200}}},
		{root, "PUT", "/api/admin/settings/", map[string]string{policy.DoctorsWrites: "any"}, []auditRow{{"root", "update", "settings", 200}}},
		{root, "DELETE", fmt.Sprintf("/api/doctors/%d/", doc), nil, []auditRow{{"root", "delete", "doctor", 204}}},
		{"", "POST", "/api/auth/login/", map[string]string{"username": "alice", "password": "wrong-password-123"}, []auditRow{{"alice", "login_failed", "session", 401}}},
		{"", "POST", "/api/auth/login/", map[string]string{"username": "alice", "password": apitest.Password}, []auditRow{{"alice", "login", "session", 200}}},
		{"", "POST", "/api/auth/login/refresh/", map[string]string{"refresh": latest}, []auditRow{{"alice", "refresh", "session", 200}}},
		{"", "POST", "/api/auth/login/refresh/", map[string]string{"refresh": refresh}, []auditRow{{"alice", "refresh_reuse_detected", "session", 401}}},
		{bob, "POST", "/api/auth/password/", map[string]string{"old_password": apitest.Password, "new_password1": apitest.Password, "new_password2": apitest.Password},
			[]auditRow{{"bob", "password_changed", "user", 200}}},
	}
	for _, tc := range cases {
		rid := uuid.NewString()
		r := e.Do(apitest.Request{Method: tc.method, Path: tc.path, Token: tc.tok, Body: tc.body, Header: map[string]string{"X-Request-ID": rid}})
		got := auditOf(t, e, rid)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %s (%d): audit rows %v, want %v", tc.method, tc.path, r.Status, got, tc.want)
		}
	}
	v := sealedAudit(t, e.Store())
	if v.Rows == 0 {
		t.Fatalf("verify: %+v", v)
	}
}

// TestAuditNoPHI: patient values (marked), passwords and tokens never reach the trail or the export.
func TestAuditNoPHI(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	e.Admin("root")
	alice, refresh := e.Login("alice")
	root, _ := e.Login("root")
	const mark = "ZQXMARK"
	r := e.Post("/api/patients/", alice, map[string]any{"name": mark + "name", "age": 77, "gender": "O", "address": mark + "addr", "phone_number": "555-9876"})
	var p struct{ ID int64 }
	r.Decode(t, &p)
	e.Get("/api/patients/?search="+mark, alice)
	e.Get("/api/patients/?search=555-9876", alice)
	e.Patch(fmt.Sprintf("/api/patients/%d/", p.ID), alice, map[string]any{"address": mark + "new"})
	e.Get(fmt.Sprintf("/api/patients/%d/", p.ID), alice)
	e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": mark + "pw"})
	e.Post("/api/auth/logout/", "", map[string]string{"refresh": refresh})
	e.Delete(fmt.Sprintf("/api/patients/%d/", p.ID), alice)
	e.Audit.Flush()
	var dump string
	if err := e.Store().Pool().QueryRow(context.Background(), `SELECT string_agg(a::text, E'\n') FROM audit_log a`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	csv := e.Get("/api/admin/audit/export/", root)
	if csv.Status != 200 || !strings.Contains(string(csv.Body), "login_failed") {
		t.Fatalf("export: %d %s", csv.Status, csv.Body)
	}
	for what, s := range map[string]string{"audit_log": dump, "export": string(csv.Body)} {
		for _, secret := range []string{mark, "9876", alice, refresh, apitest.Password} {
			if strings.Contains(s, secret) {
				t.Errorf("%s holds %q:\n%s", what, secret, s)
			}
		}
	}
}

// TestAuditAppendOnly: the application's role (owner of the table, as in embedded mode) can
// neither change nor remove rows; a row edited as superuser with triggers off breaks the chain at
// that row; retention removes old rows only, and the rest still verifies.
func TestAuditAppendOnly(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {})
	e.Register(t, "alice")
	e.Login("alice")
	e.Audit.Flush()
	ctx := context.Background()
	pool := e.Store().Pool()
	role := "audit_app_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	e.MustExec("CREATE ROLE " + role)
	t.Cleanup(func() {
		_, _ = pool.Exec(ctx, "REASSIGN OWNED BY "+role+" TO CURRENT_USER")
		_, _ = pool.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = pool.Exec(ctx, "DROP ROLE "+role)
	})
	e.MustExec("ALTER TABLE audit_log OWNER TO " + role)
	e.MustExec("ALTER TABLE audit_head OWNER TO " + role)
	e.MustExec("ALTER TABLE audit_seal OWNER TO " + role)
	sealedAudit(t, e.Store())
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET ROLE "+role); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit_log SET username = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
		"SELECT audit_purge(interval '1 day')", "UPDATE audit_seal SET row_count = 0", "DELETE FROM audit_seal",
		"TRUNCATE audit_seal"} {
		if _, err := conn.Exec(ctx, q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if _, err := conn.Exec(ctx, "RESET ROLE"); err != nil {
		t.Fatal(err)
	}
	st := e.Store()
	// An edit made as superuser, triggers off.
	var victim int64
	_ = pool.QueryRow(ctx, `SELECT max(seq) - 1 FROM audit_log`).Scan(&victim)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE audit_log SET username = 'someone-else' WHERE seq = $1", victim); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, brk, err := st.VerifyAudit(ctx)
	var seal int64
	_ = pool.QueryRow(ctx, `SELECT pos FROM audit_seal s, audit_log a WHERE a.seq = $1 AND a.txid >= s.xid_from
		AND a.txid < s.xid_to AND a.seq > s.floor_seq AND a.seq <= s.max_seq`, victim).Scan(&seal)
	if err != nil || brk == nil || seal == 0 || brk.Seal != seal {
		t.Fatalf("after an edit of row %d (seal %d): break %+v, %v", victim, seal, brk, err)
	}
}

// TestAuditRetention: audit_purge removes the rows older than the retention (a prefix of the
// chain) and nothing younger; the rest still verifies.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)
	for _, age := range []string{"7 years", "6 years 1 day", "5 years", "1 day", "0 days"} {
		if _, err := pool.Exec(ctx, `INSERT INTO audit_log (at, action, status) VALUES (now() - $1::interval, 'read', 200)`, age); err != nil {
			t.Fatal(err)
		}
		// Its own seal (sealing waits for the cluster's older writing transactions: other tests').
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			n, err := st.SealAudit(ctx)
			if err != nil || n > 1 || time.Now().After(deadline) {
				t.Fatalf("sealed %d, %v", n, err)
			}
			if n == 1 {
				break
			}
		}
	}
	n, err := st.PurgeAudit(ctx, 6*8766*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	var left, oldest int64
	_ = pool.QueryRow(ctx, `SELECT count(*), min(seq) FROM audit_log`).Scan(&left, &oldest)
	if left != 3 || oldest != 3 {
		t.Errorf("%d rows left from seq %d, want 3 from 3", left, oldest)
	}
	if _, brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
		t.Fatalf("after retention: %+v %v", brk, err)
	}
	if n, err := st.PurgeAudit(ctx, 6*8766*time.Hour); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v", n, err)
	}
}

// TestAuditRowCommitsWithItsChange: when a change's audit row cannot be written, the change is not
// made either — logins, logouts, password changes, first-run setup and administrators' changes
// included. A CHECK constraint refusing one action stands in for the failure.
func TestAuditRowCommitsWithItsChange(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {})
	ctx := context.Background()
	pool := e.Store().Pool()
	count := func(q string, args ...any) int {
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The refused requests' 500s are the point here: outside the OpenAPI check.
	send := func(method, path, token string, body any) *apitest.Response {
		return e.Do(apitest.Request{Method: method, Path: path, Token: token, Body: body, NoOpenAPI: true})
	}
	refuse := func(action string) func() {
		e.MustExec(`ALTER TABLE audit_log ADD CONSTRAINT refuse_` + action + ` CHECK (action <> '` + action + `') NOT VALID`)
		return func() { e.MustExec(`ALTER TABLE audit_log DROP CONSTRAINT refuse_` + action) }
	}

	// Setup: no administrator, no setup token used.
	token := e.SetupToken()
	undo := refuse("setup")
	r := send("POST", "/api/setup/", "", map[string]string{"token": token, "username": "boss", "email": "boss@example.com", "password": apitest.Password})
	undo()
	if r.Status < 500 || count(`SELECT count(*) FROM users WHERE username = 'boss'`) != 0 {
		t.Fatalf("setup with its row refused: %d %s, users named boss: %d", r.Status, r.Body, count(`SELECT count(*) FROM users WHERE username = 'boss'`))
	}
	root := e.Admin("root")

	e.Register(t, "alice")
	families := func() int {
		return count(`SELECT count(*) FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE u.username = 'alice' AND f.revoked_at IS NULL`)
	}
	undo = refuse("login")
	r = send("POST", "/api/auth/login/", "", map[string]string{"username": "alice", "password": apitest.Password})
	undo()
	if r.Status < 500 || families() != 0 {
		t.Fatalf("login with its row refused: %d, live logins %d", r.Status, families())
	}
	_, refresh := e.Login("alice")
	undo = refuse("logout")
	r = send("POST", "/api/auth/logout/", "", map[string]string{"refresh": refresh})
	undo()
	if r.Status < 500 || families() != 1 {
		t.Fatalf("logout with its row refused: %d, live logins %d", r.Status, families())
	}
	undo = refuse("refresh")
	r = send("POST", "/api/auth/login/refresh/", "", map[string]string{"refresh": refresh})
	undo()
	if r.Status < 500 {
		t.Fatalf("refresh with its row refused: %d", r.Status)
	}
	if r := e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": refresh}); r.Status != 200 {
		t.Fatalf("the refresh token was rotated although its row was not written: %d %s", r.Status, r.Body)
	}

	undo = refuse("create")
	r = send("POST", "/api/admin/users/", root, map[string]any{"username": "carol", "email": "carol@example.com", "password": apitest.Password})
	undo()
	if r.Status < 500 || count(`SELECT count(*) FROM users WHERE username = 'carol'`) != 0 {
		t.Fatalf("account creation with its row refused: %d, carol exists: %d", r.Status, count(`SELECT count(*) FROM users WHERE username = 'carol'`))
	}
	// A patient's creation writes its row in its own statement (no transaction around it).
	access, _ := e.Login("alice")
	undo = refuse("create")
	r = send("POST", "/api/patients/", access, map[string]any{"name": "John Doe", "age": 35, "gender": "M", "address": "1 Main St", "phone_number": "555-0101"})
	undo()
	if r.Status < 500 || count(`SELECT count(*) FROM patients`) != 0 {
		t.Fatalf("patient creation with its row refused: %d, patients: %d", r.Status, count(`SELECT count(*) FROM patients`))
	}
	if r := send("POST", "/api/patients/", access, map[string]any{"name": "John Doe", "age": 35, "gender": "M", "address": "1 Main St", "phone_number": "555-0101"}); r.Status != 201 ||
		count(`SELECT count(*) FROM audit_log WHERE action = 'create' AND resource = 'patient' AND status = 201 AND resource_id = patient_id::text AND patient_id = (SELECT max(id) FROM patients)`) != 1 {
		t.Fatalf("patient creation: %d %s, or its row does not name it", r.Status, r.Body)
	}
	undo = refuse("update")
	r = send("PUT", "/api/admin/settings/", root, map[string]string{policy.DoctorsWrites: "any"})
	undo()
	if r.Status < 500 || count(`SELECT count(*) FROM settings WHERE key = $1`, policy.DoctorsWrites) != 0 {
		t.Fatalf("settings change with its row refused: %d", r.Status)
	}
}

// TestAuditHostileUserAgent: a User-Agent of bytes that are not UTF-8 (a client chooses it) is
// stored as U+FFFD. It neither fails the change it comes with (a 500 before), nor loses the read
// records of its batch, nor the record of a failed login.
func TestAuditHostileUserAgent(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	alice, _ := e.Login("alice")
	hostile := map[string]string{"User-Agent": "agent\xff\xfe"}
	create := e.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: alice, Header: hostile,
		Body: map[string]any{"name": "Ann Lee", "age": 40, "gender": "F", "address": "1 Road", "phone_number": "555-0100"}})
	if create.Status != 201 {
		t.Fatalf("create with a hostile User-Agent: %d %s", create.Status, create.Body)
	}
	var p struct{ ID int64 }
	create.Decode(t, &p)
	read := e.Do(apitest.Request{Method: "GET", Path: fmt.Sprintf("/api/patients/%d/", p.ID), Token: alice, Header: hostile})
	plain := e.Get(fmt.Sprintf("/api/patients/%d/", p.ID), alice)
	// Clipped to 256 bytes between characters: its byte 256 is inside an "é".
	long := e.Do(apitest.Request{Method: "GET", Path: fmt.Sprintf("/api/patients/%d/", p.ID), Token: alice,
		Header: map[string]string{"User-Agent": "x" + strings.Repeat("é", 200)}})
	login := e.Do(apitest.Request{Method: "POST", Path: "/api/auth/login/", Header: hostile,
		Body: map[string]string{"username": "alice", "password": "wrong-password"}})
	if read.Status != 200 || plain.Status != 200 || long.Status != 200 || login.Status != 401 {
		t.Fatalf("read %d, plain read %d, long read %d, failed login %d", read.Status, plain.Status, long.Status, login.Status)
	}
	for _, r := range []struct {
		resp          *apitest.Response
		action, agent string
	}{{create, "create", "agent\uFFFD"}, {read, "read", "agent\uFFFD"}, {plain, "read", "Go-http-client/1.1"},
		{long, "read", "x" + strings.Repeat("é", 127)}, {login, "login_failed", "agent\uFFFD"}} {
		rid := r.resp.Header.Get("X-Request-ID")
		rows := auditOf(t, e, rid)
		var agent string
		if err := e.Store().Pool().QueryRow(context.Background(), `SELECT user_agent FROM audit_log WHERE request_id = $1`, rid).Scan(&agent); err != nil {
			t.Fatalf("%s: %v (rows %+v)", r.action, err, rows)
		}
		if len(rows) != 1 || rows[0].action != r.action || agent != r.agent {
			t.Errorf("%s: rows %+v, user agent %q; want one %s row with %q", r.action, rows, agent, r.action, r.agent)
		}
	}
}

// TestAuditFilterTextIsChecked: the trail's text filters go to PostgreSQL as they are, so bytes it
// cannot compare (not UTF-8, NUL) are a 400 naming the filter, for the list and for the export
// (which answered 500, and an export that looked complete but held no row).
func TestAuditFilterTextIsChecked(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	root := e.Admin("root")
	for _, q := range []string{"actor=%FF", "actor=a%00b", "actor=%C3%28", "resource=%FF", "resource=%00"} {
		for _, path := range []string{"/api/admin/audit/", "/api/admin/audit/export/"} {
			r := e.Do(apitest.Request{Method: "GET", Path: path + "?" + q, Token: root, NoOpenAPI: true})
			field := strings.SplitN(q, "=", 2)[0]
			if r.Status != 400 || !strings.Contains(string(r.Body), `"`+field+`"`) {
				t.Errorf("%s?%s: %d %s, want 400 naming %s", path, q, r.Status, r.Body, field)
			}
		}
	}
}

// TestAuditClientAddressBehindProxy: behind a trusted proxy, the audit row has the client's
// address (as the log and the sessions list do), not the proxy's.
func TestAuditClientAddressBehindProxy(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Server.TrustedProxies = []string{"127.0.0.1"} })
	e.Register(t, "alice")
	alice, _ := e.Login("alice")
	r := e.Do(apitest.Request{Method: "GET", Path: "/api/patients/", Token: alice,
		Header: map[string]string{"X-Forwarded-For": "203.0.113.7"}})
	if r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	rid := r.Header.Get("X-Request-ID")
	auditOf(t, e, rid) // flushes
	var addr string
	if err := e.Store().Pool().QueryRow(context.Background(), `SELECT client_address FROM audit_log WHERE request_id = $1`, rid).Scan(&addr); err != nil {
		t.Fatal(err)
	}
	if addr != "203.0.113.7" {
		t.Fatalf("audit row's client address %q, want the forwarded 203.0.113.7", addr)
	}
}
