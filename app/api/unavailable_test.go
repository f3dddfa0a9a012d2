//go:build unix

package api_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
	"healthcare/app/database"
)

const (
	unavailableJSON = `{"detail":"The database is not available right now. Try again in a few seconds."}`
	diskFullJSON    = `{"detail":"The server's disk is full: nothing was saved. Ask the administrator to free disk space."}`
	aPatient        = `{"name": "John Doe", "age": 35, "gender": "M", "address": "123 Main St", "phone_number": "555-0101"}`
)

// ownPostgres starts an embedded PostgreSQL server for this test alone (the package's shared one
// must not be stopped) and returns it with a pool on its database, schema applied. port 0 picks a
// free port; the server is stopped when the test ends.
func ownPostgres(t *testing.T, dir string, port int) (*database.Embedded, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: dir, NoSync: true, Port: port, Database: "healthcare"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	pool, err := pgxpool.New(ctx, srv.URL("healthcare"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv, pool
}

// wantDetail checks a 503 or 507 answer: status, DRF body and, for a 503, Retry-After.
func wantDetail(t *testing.T, what string, r *apitest.Response, status int, body string) {
	t.Helper()
	if r.Status != status || strings.TrimSpace(string(r.Body)) != body {
		t.Errorf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, body)
	}
	want := ""
	if status == http.StatusServiceUnavailable {
		want = "5"
	}
	if got := r.Header.Get("Retry-After"); got != want {
		t.Errorf("%s: Retry-After %q, want %q", what, got, want)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// TestDatabaseAway: with its PostgreSQL stopped, everything that needs the database answers 503
// with Retry-After and DRF's body: reads, writes, login, and the token check of a protected
// endpoint (never a 401 "token not valid" for a token the server could not look up). Once the
// server is back, the same process answers again.
func TestDatabaseAway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, pool := ownPostgres(t, dir, 0)
	// Rate limits on: the login's first query is the rate-limit counter's.
	env := apitest.NewOnPool(t, pool, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.Database.QueryTimeout = 2 * time.Second // the hung server below costs each request this
	})
	token := env.User("alice")
	_, refresh := env.Login("alice")
	if r := env.Post("/api/patients/", token, aPatient); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}

	// Hung (every process of the server stopped, as a frozen machine or a dropped network looks):
	// the query's deadline passes, the server does not answer a ping either: 503.
	family := postgresFamily(t, srv.Info().DataDir)
	signalAll(family, syscall.SIGSTOP)
	cont := sync.OnceFunc(func() { signalAll(family, syscall.SIGCONT) })
	t.Cleanup(cont)
	env.DatabaseTrouble = true
	for _, path := range []string{"/api/patients/", "/api/auth/me/"} {
		wantDetail(t, "hung: GET "+path, env.Get(path, token), http.StatusServiceUnavailable, unavailableJSON)
	}
	cont()
	env.DatabaseTrouble = false
	if r := env.Get("/api/patients/", token); r.Status != http.StatusOK {
		t.Fatalf("after the server resumed: %d %s", r.Status, r.Body)
	}

	port := srv.Info().Port
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	env.DatabaseTrouble = true
	for _, r := range []apitest.Request{
		{Method: "GET", Path: "/api/patients/", Token: token},
		{Method: "GET", Path: "/api/patients/1/", Token: token},
		{Method: "POST", Path: "/api/patients/", Token: token, Body: aPatient},
		{Method: "DELETE", Path: "/api/patients/1/", Token: token},
		{Method: "GET", Path: "/api/auth/me/", Token: token},
		{Method: "OPTIONS", Path: "/api/doctors/", Token: token},
		{Method: "POST", Path: "/api/auth/login/", Body: map[string]string{"username": "alice", "password": apitest.Password}},
		{Method: "POST", Path: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}},
		{Method: "POST", Path: "/api/auth/logout/", Body: map[string]string{"refresh": refresh}},
		{Method: "POST", Path: "/api/auth/register/", Body: map[string]string{
			"username": "bob", "email": "bob@example.com", "password": apitest.Password, "password2": apitest.Password}},
	} {
		wantDetail(t, r.Method+" "+r.Path, env.Do(r), http.StatusServiceUnavailable, unavailableJSON)
	}
	r := env.Get("/readyz", "")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "5" {
		t.Errorf("readyz: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// A bad token is still a 401: it is refused before the database is asked.
	if r := env.Get("/api/auth/me/", "not-a-token"); r.Status != http.StatusUnauthorized {
		t.Errorf("bad token with the database away: %d %s", r.Status, r.Body)
	}
	// Each refusal is one warning with the request id and the cause; no "request failed" error,
	// no patient field, password or token.
	r = env.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: token, Body: aPatient,
		Header: map[string]string{"X-Request-ID": "db-away-1"}})
	wantDetail(t, "create with a request id", r, http.StatusServiceUnavailable, unavailableJSON)
	logs := env.Logs()
	for _, secret := range []string{"John Doe", "555-0101", "123 Main St", apitest.Password, token, refresh, `"msg":"request failed"`, `"level":"ERROR"`} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	warned := false
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "the database cannot serve requests" && m["request_id"] == "db-away-1" {
			warned = m["level"] == "WARN" && m["status"] == float64(503) && m["cause"] != ""
		}
	}
	if !warned {
		t.Errorf("no warning with the request id and a cause for the refused create:\n%s", logs)
	}

	// PostgreSQL is back (same port, as the embedded server's is fixed in its configuration).
	ownPostgres(t, dir, port)
	env.DatabaseTrouble = false
	if r := env.Get("/readyz", ""); r.Status != http.StatusOK {
		t.Errorf("readyz after the restart: %d %s", r.Status, r.Body)
	}
	r = env.Get("/api/patients/", token)
	var list []map[string]any
	r.Decode(t, &list)
	if r.Status != http.StatusOK || len(list) != 1 {
		t.Errorf("list after the restart: %d %s", r.Status, r.Body)
	}
}

// TestDatabaseNotAnswering: a server that accepts connections but never answers (hung, or a
// network that drops packets) costs each request its query timeout, then is a 503 too.
func TestDatabaseNotAnswering(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@"+ln.Addr().String()+"/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	env := apitest.NewOnPool(t, pool, func(c *config.Config) { c.Database.QueryTimeout = 300 * time.Millisecond })
	env.DatabaseTrouble = true
	begin := time.Now()
	r := env.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": apitest.Password})
	wantDetail(t, "login", r, http.StatusServiceUnavailable, unavailableJSON)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("the 503 took %v: the query timeout (300ms) did not bound the wait", took)
	}
}

// TestSlowQueryIsAServerError: a query that outlives database.query_timeout on a database that
// answers (a ping says so) is a bug to fix, not a database that is away: the generic 500.
func TestSlowQueryIsAServerError(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *config.Config) { c.Database.QueryTimeout = 2 * time.Second })
	token := env.User("alice")
	env.MustExec(`CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$`)
	env.MustExec(`CREATE TRIGGER test_slow BEFORE INSERT ON patients FOR EACH ROW EXECUTE FUNCTION test_slow()`)
	r := env.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: token, Body: aPatient, NoOpenAPI: true})
	if r.Status != http.StatusInternalServerError || r.Header.Get("Retry-After") != "" {
		t.Errorf("slow query: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if !strings.Contains(env.Logs(), `"msg":"request failed"`) {
		t.Errorf("the slow query was not logged as an error:\n%s", env.Logs())
	}
}

// TestDatabaseErrorsBySQLSTATE: errors PostgreSQL itself raises (here from a trigger on the
// patients table, with the SQLSTATE the server uses for each condition) are answered by what they
// mean: a full disk is a 507 and nothing is saved; running out of connections or memory, or a
// server shutting down, a 503 with Retry-After; any other error stays the generic 500.
func TestDatabaseErrorsBySQLSTATE(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.User("alice")
	for _, tc := range []struct {
		Name    string
		ErrCode string
		Status  int
		Body    string
	}{
		{"disk full", "disk_full", http.StatusInsufficientStorage, diskFullJSON},
		{"too many connections", "too_many_connections", http.StatusServiceUnavailable, unavailableJSON},
		{"out of memory", "out_of_memory", http.StatusServiceUnavailable, unavailableJSON},
		{"admin shutdown", "admin_shutdown", http.StatusServiceUnavailable, unavailableJSON},
		{"cannot connect now", "cannot_connect_now", http.StatusServiceUnavailable, unavailableJSON},
		{"connection failure", "connection_failure", http.StatusServiceUnavailable, unavailableJSON},
		{"any other error", "raise_exception", http.StatusInternalServerError,
			`{"detail":"A server error occurred. It has been logged; try again later."}`},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			env.MustExec(`CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '` + tc.ErrCode + `'; END $$`)
			env.MustExec(`CREATE OR REPLACE TRIGGER test_refuse BEFORE INSERT ON patients FOR EACH ROW EXECUTE FUNCTION test_refuse()`)
			defer env.MustExec(`DROP TRIGGER test_refuse ON patients`)
			env.DatabaseTrouble = true
			defer func() { env.DatabaseTrouble = false }()
			r := env.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: token, Body: aPatient,
				NoOpenAPI: tc.Status == http.StatusInternalServerError})
			wantDetail(t, "create", r, tc.Status, tc.Body)
			if strings.Contains(string(r.Body), "refused by the test") {
				t.Errorf("the database's message reached the client: %s", r.Body)
			}
		})
	}
	// Nothing was saved by any of them.
	r := env.Get("/api/patients/", token)
	var list []json.RawMessage
	r.Decode(t, &list)
	if r.Status != http.StatusOK || len(list) != 0 {
		t.Errorf("after the refused creates: %d %s", r.Status, r.Body)
	}
}

// postgresFamily is the postmaster of cluster (from postmaster.pid) and its children.
func postgresFamily(t *testing.T, cluster string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	family := []int{postmaster}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(postmaster) {
				family = append(family, pid)
			}
		}
	}
	if len(family) < 2 {
		t.Fatalf("found no children of the postmaster %d", postmaster)
	}
	return family
}

func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}
