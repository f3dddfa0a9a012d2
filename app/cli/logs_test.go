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

	pgLog, err := os.ReadFile(filepath.Join(dataDir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pgLog), "patients_owner_phone_key") {
		t.Fatalf("the refused duplicate is not in postgres.log, so this test checks nothing:\n%s", pgLog)
	}
	for what, log := range map[string]string{"the server's log": p.out.String(), "postgres.log": string(pgLog)} {
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("%s holds %q:\n%s", what, s, log)
			}
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
