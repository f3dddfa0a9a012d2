//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogsKeepNoSecrets: at debug level, neither the server's log nor PostgreSQL's log in the data
// directory holds a password, a token or a patient's fields — also when requests fail, and when
// PostgreSQL itself refuses a row (by default its DETAIL line would quote the row's values).
func TestLogsKeepNoSecrets(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	p, _ := serve(t, opts{DataDir: dataDir, Env: []string{"HEALTHCARE_LOG_LEVEL=debug"}})

	const (
		password      = "Zebra-Lantern-4471"
		wrongPassword = "Wrong-Secret-Quince-99"
		name          = "Marguerite Quillfeather"
		phone         = "5550199887"
		address       = "17 Hawthorn Mews"
		newAddress    = "42 Juniper Close"
	)
	secrets := []string{password, wrongPassword, name, phone, address, newAddress}
	must200 := func(status int, body []byte, want int, what string) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: %d %s", what, status, body)
		}
	}
	status, _, body := p.request("POST", "/api/auth/register/", map[string]string{
		"username": "alice", "email": "alice@example.org", "password": password, "password2": password})
	must200(status, body, 201, "register")
	status, _, body = p.request("POST", "/api/auth/login/", map[string]string{"username": "alice", "password": wrongPassword})
	must200(status, body, 401, "login with a wrong password")
	status, _, body = p.request("POST", "/api/auth/login/", map[string]string{"username": "alice", "password": password})
	must200(status, body, 200, "login")
	var pair struct{ Access, Refresh string }
	if err := json.Unmarshal(body, &pair); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pair.Access, pair.Refresh)
	bearer := []string{"Authorization", "Bearer " + pair.Access}

	patient := map[string]any{"name": name, "age": 61, "gender": "F", "address": address, "phone_number": phone}
	status, _, body = p.request("POST", "/api/patients/", patient, bearer...)
	must200(status, body, 201, "create a patient")
	var created struct{ ID int64 }
	json.Unmarshal(body, &created)
	status, _, body = p.request("POST", "/api/patients/", patient, bearer...)
	must200(status, body, 400, "the same phone number again")
	status, _, body = p.request("PATCH", "/api/patients/"+itoa(created.ID)+"/", map[string]any{"address": newAddress}, bearer...)
	must200(status, body, 200, "change the address")
	status, _, body = p.request("POST", "/api/patients/", `{"name": "`+name+`", "phone_number": `, bearer...)
	must200(status, body, 400, "malformed JSON carrying a name")
	status, _, body = p.request("GET", "/api/patients/?search="+phone, nil, bearer...)
	must200(status, body, 200, "search by phone number")
	status, _, body = p.request("POST", "/api/auth/login/refresh/", map[string]string{"refresh": pair.Refresh})
	must200(status, body, 200, "refresh")
	var rotated struct{ Access, Refresh string }
	json.Unmarshal(body, &rotated)
	secrets = append(secrets, rotated.Access, rotated.Refresh)
	status, _, body = p.request("POST", "/api/auth/logout/", map[string]string{"refresh": rotated.Refresh})
	must200(status, body, 204, "logout")

	// PostgreSQL refusing a row: a duplicate of the patient, and a row breaking a CHECK.
	conn := embeddedConn(t, dataDir, "healthcare")
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		 SELECT managed_by, name, age, gender, address, phone_number FROM patients`,
		`INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		 SELECT managed_by, name, -1, gender, address, phone_number || '0' FROM patients`,
	} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Fatalf("PostgreSQL accepted %s", sql)
		}
	}
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	// PostgreSQL's log: postgres.log (start-up output) and the collector's postgres-<time>.log files.
	logFiles, _ := filepath.Glob(filepath.Join(dataDir, "postgres-*.log"))
	var pgLog []byte
	for _, f := range append([]string{filepath.Join(dataDir, "postgres.log")}, logFiles...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pgLog = append(pgLog, b...)
	}
	if !strings.Contains(string(pgLog), "patients_owner_phone_key") {
		t.Fatalf("the refused duplicate is not in PostgreSQL's log, so this test checks nothing:\n%s", pgLog)
	}
	for what, log := range map[string]string{"the server's log": p.out.String(), "PostgreSQL's log": string(pgLog)} {
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("%s holds %q:\n%s", what, s, log)
			}
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestLogFile: with log.file, serve's log (request lines included) goes to that file as JSON, not
// to stderr, which only says where it went; PostgreSQL logs into postgres-<time>.log files in the
// data directory (issue 16, item 10).
func TestLogFile(t *testing.T) {
	t.Parallel()
	root := tempDir(t)
	logDir := filepath.Join(root, "log")
	if err := os.Mkdir(logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	giveToServer(t, logDir) // as an operator would: the server runs as embedded.run_as
	logFile := filepath.Join(logDir, "healthcare.log")
	dataDir := filepath.Join(root, "data")
	// Not serve(t, ...): its readiness wait reads the start-up lines from stderr.
	p := launch(t, opts{DataDir: dataDir, Port: freePort(t), Env: []string{"HEALTHCARE_LOG_FILE=" + logFile, "HEALTHCARE_LOG_FILE_KEEP=3"}}, "serve")
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "ready: open") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 90 s; log.file holds:\n%s", b)
		}
	}
	if status, _, body := p.request("GET", "/api/auth/me/", nil, "X-Request-ID", "log-file-1"); status != 401 {
		t.Fatalf("GET /api/auth/me/: %d %s", status, body)
	}
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.out.String())
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"request"`, `"request_id":"log-file-1"`, `"msg":"stopped"`, `"msg":"database: the embedded PostgreSQL in the data directory"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log.file lacks %s:\n%s", want, b)
		}
	}
	out := p.out.String()
	if !strings.Contains(out, "logging to log.file from now on") || strings.Contains(out, `"msg":"request"`) || strings.Contains(out, "log-file-1") {
		t.Errorf("stderr:\n%s", out)
	}
	if st, err := os.Stat(logFile); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("log.file mode: %v %v", st, err)
	}
	pgLogs, _ := filepath.Glob(filepath.Join(dataDir, "postgres-*.log"))
	var pg strings.Builder
	for _, f := range pgLogs {
		b, _ := os.ReadFile(f)
		pg.Write(b)
	}
	if !strings.Contains(pg.String(), "ready to accept connections") {
		t.Errorf("no PostgreSQL log in %s: %v", dataDir, pgLogs)
	}
}
