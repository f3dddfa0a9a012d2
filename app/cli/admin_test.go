//go:build unix

package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// loginAs signs username in with pw and returns the status and the access token.
func loginAs(p *proc, username, pw string) (int, string) {
	status, _, body := p.request("POST", "/api/auth/login/", map[string]string{"username": username, "password": pw})
	var tok struct{ Access string }
	json.Unmarshal(body, &tok)
	return status, tok.Access
}

// TestAdminCommands: `healthcare admin create`, `reset-password` and `list` through the real
// binary, on a data directory of their own and beside a running server; the password comes from
// standard input, never a flag.
func TestAdminCommands(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_RATE_LIMIT_ENABLED=false"}}
	adminRun := func(stdin string, args ...string) (int, string) {
		t.Helper()
		o := o
		o.Stdin = stdin
		return run(t, o, append([]string{"admin"}, args...)...)
	}

	// On its own: the first command creates the database too.
	code, out := adminRun(password+"\n", "create", "--username", "boss", "--email", "boss@example.com")
	if code != 0 || !strings.Contains(out, "administrator boss created") {
		t.Fatalf("admin create: exit %d\n%s", code, out)
	}
	if strings.Contains(out, password) {
		t.Fatalf("the password was printed:\n%s", out)
	}
	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"weak password", "boss\n", []string{"create", "--username", "weak", "--email", "weak@example.com"}, 2, "This password is too short"},
		{"no password", "", []string{"create", "--username", "nopw", "--email", "nopw@example.com"}, 2, "no password"},
		{"taken username", password + "\n", []string{"create", "--username", "BOSS", "--email", "other@example.com"}, 1, "exists already"},
		{"bad email", password + "\n", []string{"create", "--username", "mail", "--email", "not-an-email"}, 2, "email address"},
		{"no email", password + "\n", []string{"create", "--username", "mail"}, 2, "email"},
		{"password flag", "", []string{"create", "--username", "x", "--email", "x@example.com", "--password", "y"}, 2, "unknown flag"},
		{"reset nobody", password + "\n", []string{"reset-password", "nobody"}, 1, "no account named"},
	} {
		if code, out := adminRun(c.stdin, c.args...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", c.name, code, c.code, c.want, out)
		}
	}
	code, out = adminRun("", "list")
	if code != 0 || !strings.Contains(out, "boss") || !strings.Contains(out, "admin") || !strings.Contains(out, "never") {
		t.Fatalf("admin list: exit %d\n%s", code, out)
	}

	// The server: an administrator exists, so no setup token; boss administers.
	p, _ := serve(t, o)
	if strings.Contains(p.out.String(), "setup_token") {
		t.Errorf("a setup token was printed although an administrator exists:\n%s", p.out.String())
	}
	status, boss := loginAs(p, "boss", password)
	if status != 200 {
		t.Fatalf("boss login: %d", status)
	}
	if st, _, body := p.request("GET", "/api/admin/users/", nil, "Authorization", "Bearer "+boss); st != 200 {
		t.Fatalf("boss lists users: %d %s", st, body)
	}

	// Beside the running server.
	code, out = adminRun(password+"\n", "create", "--username", "second", "--email", "second@example.com")
	if code != 0 || !strings.Contains(out, "running server") {
		t.Fatalf("admin create beside the server: exit %d\n%s", code, out)
	}
	if status, _ := loginAs(p, "second", password); status != 200 {
		t.Fatalf("second login: %d", status)
	}
	const newPassword = "An0ther!Passw0rd-cli"
	code, out = adminRun(newPassword+"\n", "reset-password", "boss")
	if code != 0 || !strings.Contains(out, "password of boss changed") {
		t.Fatalf("reset-password beside the server: exit %d\n%s", code, out)
	}
	if st, _, _ := p.request("GET", "/api/auth/me/", nil, "Authorization", "Bearer "+boss); st != 401 {
		t.Errorf("boss's login after the reset: %d, want 401", st)
	}
	if status, _ := loginAs(p, "boss", password); status != 401 {
		t.Errorf("the old password after the reset: %d", status)
	}
	status, boss = loginAs(p, "boss", newPassword)
	if status != 200 {
		t.Fatalf("the new password: %d", status)
	}
	if st, _, body := p.request("GET", "/api/admin/users/", nil, "Authorization", "Bearer "+boss); st != 200 {
		t.Fatalf("boss after the reset (no forced change from the command line): %d %s", st, body)
	}
	register(t, p, "clerk")
	code, out = adminRun("", "list", "--all")
	if code != 0 || !strings.Contains(out, "clerk") || !strings.Contains(out, "staff") || !strings.Contains(out, "second") {
		t.Fatalf("admin list --all: exit %d\n%s", code, out)
	}
	code, out = adminRun("", "list")
	if code != 0 || strings.Contains(out, "clerk") {
		t.Fatalf("admin list shows staff: exit %d\n%s", code, out)
	}
	code, out = adminRun(newPassword+"\n", "reset-password", "clerk", "--must-change")
	if code != 0 {
		t.Fatalf("reset-password --must-change: exit %d\n%s", code, out)
	}
	_, clerk := loginAs(p, "clerk", newPassword)
	if st, _, body := p.request("GET", "/api/patients/", nil, "Authorization", "Bearer "+clerk); st != 403 || !strings.Contains(string(body), "password_change_required") {
		t.Errorf("clerk after --must-change: %d %s", st, body)
	}
}

// TestSetupTokenAtFirstStart: a server without an administrator prints a one-time setup token;
// the first-run endpoint takes it once; after a restart, with an administrator, none is printed.
func TestSetupTokenAtFirstStart(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir}
	p, _ := serve(t, o)
	token := ""
	for _, l := range p.logLines() {
		if tok, ok := l["setup_token"].(string); ok {
			token = tok
			if !strings.Contains(l["msg"].(string), "healthcare admin create") {
				t.Errorf("the setup line does not say what to do: %v", l)
			}
		}
	}
	if token == "" {
		t.Fatalf("no setup token printed:\n%s", p.out.String())
	}
	body := map[string]string{"token": token, "username": "boss", "email": "boss@example.com", "password": password}
	if st, _, b := p.request("POST", "/api/setup/", map[string]string{"token": "wrong", "username": "x", "email": "x@example.com", "password": password}); st != 403 {
		t.Fatalf("wrong token: %d %s", st, b)
	}
	if st, _, b := p.request("POST", "/api/setup/", body); st != 201 {
		t.Fatalf("setup: %d %s", st, b)
	}
	body["username"], body["email"] = "again", "again@example.com"
	if st, _, b := p.request("POST", "/api/setup/", body); st != 409 {
		t.Fatalf("setup again: %d %s", st, b)
	}
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	p, _ = serve(t, o)
	if strings.Contains(p.out.String(), "setup_token") {
		t.Errorf("a setup token after an administrator exists:\n%s", p.out.String())
	}
	if !strings.Contains(p.out.String(), `"registration":"open (default)"`) {
		t.Errorf("the policies in force are not logged:\n%s", p.out.String())
	}
}

// TestAdminFromEnvironment: HEALTHCARE_ADMIN_USERNAME and _PASSWORD_FILE create the administrator
// at the first start (Docker); a weak password is refused with a sentence before serving.
func TestAdminFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := tempDir(t)
	pwFile := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts{DataDir: dir + "/data", Env: []string{"HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD_FILE=" + pwFile}}
	p, _ := serve(t, o)
	if strings.Contains(p.out.String(), "setup_token") || !strings.Contains(p.out.String(), "administrator created") {
		t.Errorf("first start with admin.username:\n%s", p.out.String())
	}
	status, boss := loginAs(p, "boss", password)
	if status != 200 {
		t.Fatalf("boss login: %d", status)
	}
	_, _, body := p.request("GET", "/api/auth/me/", nil, "Authorization", "Bearer "+boss)
	if !strings.Contains(string(body), `"role":"admin"`) || !strings.Contains(string(body), `"email":"boss@localhost"`) {
		t.Errorf("me: %s", body)
	}
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	code, out := run(t, opts{DataDir: dir + "/other", Env: []string{"HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD=boss"}, Port: freePort(t)}, "serve")
	if code != 2 || !strings.Contains(out, "This password is too short") {
		t.Errorf("weak admin password: exit %d\n%s", code, out)
	}
}
