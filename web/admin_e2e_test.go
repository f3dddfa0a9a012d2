//go:build !no_ui

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2EAdmin (issue 10): the first-run screen with the setup token from the server's log, then the
// administrator's screens: create a user, deactivate and reactivate, the last administrator kept,
// a password reset that makes the user choose their own at the next sign-in (nothing else until
// then), a staff user without admin navigation, settings that turn on clinic wording, backups.
func TestE2EAdmin(t *testing.T) {
	if os.Getenv("HEALTHCARE_E2E_BASE_URL") != "" {
		t.Skip("needs its own server (HEALTHCARE_E2E_BASE_URL is set)")
	}
	browser := findBrowser(t)
	base, stop := startServer(t)
	defer stop()
	e := newSession(t, browser, base)

	// ---- first run: the sign-in screen points to the setup screen; the token comes from the log ----
	e.do(chromedp.Navigate(base + "/"))
	e.waitVisible("#setup-hint")
	e.click(`#setup-hint a[href="#/setup"]`)
	e.waitVisible("#setup-token")
	e.set("#setup-token", "not-the-token")
	e.set("#setup-username", "boss")
	e.set("#setup-email", "boss@clinic.example")
	e.set("#setup-password", password)
	e.set("#setup-password2", password)
	e.click(`#setup-form button[type="submit"]`)
	e.waitVisible("#setup-form .form-error, #setup-form .field-error")
	e.shot("20-setup-wrong-token")
	e.set("#setup-token", setupToken(t, base))
	e.click(`#setup-form button[type="submit"]`)
	e.waitText("#page-title", "Users")
	e.waitText("#users-table", "boss")
	e.waitVisible("#admin-menu")
	e.expectNotice("You are the administrator")
	e.shot("21-users")

	// ---- create a user (must choose their own password at the first sign-in) ----
	e.click("#add-user")
	e.waitVisible("#user-form")
	e.set("#user-username", "carol")
	e.set("#user-email", "carol@clinic.example")
	e.set("#user-password", "abc")
	e.click(`#user-form button[type="submit"]`)
	e.expectFieldError("user-password")
	e.shot("22-user-form-errors")
	e.set("#user-password", "First!Passw0rd")
	e.click(`#user-form button[type="submit"]`)
	e.waitText("#page-title", "carol")
	e.expectNotice("Added carol")
	e.waitText("#user-status-text", "must choose a password")
	carolID := e.eval(`location.hash.split('/')[2]`)
	e.shot("23-user-detail")

	// ---- deactivate (asks first), reactivate ----
	e.click("#deactivate")
	e.waitVisible("dialog[open]")
	e.shot("24-deactivate-dialog")
	e.click(`dialog[open] footer button.danger`)
	e.waitText("#user-status-text", "Inactive")
	e.expectNotice("deactivated")
	boss := e.apiLogin("boss")
	var acct map[string]any
	e.apiJSON("GET", "/api/admin/users/"+carolID+"/", boss, nil, 200, &acct)
	if acct["is_active"] != false {
		t.Errorf("carol after Deactivate: %v, want is_active false", acct)
	}
	e.click("#reactivate")
	e.waitText("#user-status-text", "Active")
	e.waitVisible("#deactivate")

	// ---- the last administrator keeps the role: the API's sentence is shown ----
	e.do(chromedp.Navigate(base + "/#/users?search=boss"))
	e.waitText("#users-table", "boss@clinic.example")
	e.click(`#users-table a`)
	e.waitText("#page-title", "boss")
	e.click("#revoke-admin")
	e.waitText("#user-action-error", "last active administrator")
	e.shot("25-last-admin")

	// ---- reset carol's password; she must choose her own at the next sign-in ----
	e.do(chromedp.Navigate(base + "/#/users/" + carolID))
	e.waitText("#page-title", "carol")
	e.set("#reset-password", "Temp0rary!Pass")
	e.click(`#reset-form button[type="submit"]`)
	e.expectNotice("New password set for carol")

	c := newSession(t, browser, base) // carol's own browser
	c.do(chromedp.Navigate(base + "/#/login"))
	c.set("#login-username", "carol")
	c.set("#login-password", "Temp0rary!Pass")
	c.click(`#main form button[type="submit"]`)
	c.waitText("#page-title", "Choose your password")
	if got := c.eval(`String(document.querySelectorAll('.app-header a[href="#/patients"], #quick-search, #admin-menu').length)`); got != "0" {
		t.Errorf("the forced password screen shows %s navigation links, want none", got)
	}
	c.shot("26-forced-password")
	c.do(chromedp.Navigate(base + "/#/patients"))
	c.waitText("#page-title", "Choose your password") // nothing else until she chose one
	c.set("#pw-old", "Temp0rary!Pass")
	c.set("#pw-new1", password)
	c.set("#pw-new2", password)
	c.click(`#password-form button[type="submit"]`)
	c.waitText("#page-title", "Home")
	c.expectNotice("Your password is changed")

	// ---- a staff user never sees admin navigation; the admin routes are not there for her ----
	if got := c.eval(`String(document.querySelectorAll('#admin-menu, a[href="#/users"], a[href="#/settings"], a[href="#/backups"], a[href^="#/activity"]').length)`); got != "0" {
		t.Errorf("staff sees %s admin links, want none", got)
	}
	c.waitText(".app-header", "My patients")
	c.do(chromedp.Navigate(base + "/#/users"))
	c.waitText("#page-title", "Page not found")

	// ---- settings: clinic visibility needs closed registration (the API's message), then both ----
	e.do(chromedp.Navigate(base + "/#/settings"))
	e.waitVisible("#settings-form")
	e.waitText("#policy-registration", "The default")
	e.click(`input[name="patients.visibility"][value="clinic"]`)
	e.click("#save-settings")
	e.waitVisible("#settings-form .field-error, #settings-form .form-error")
	e.shot("27-settings-error")
	e.click(`input[name="registration"][value="closed"]`)
	e.click("#save-settings")
	e.expectNotice("Settings saved")
	e.waitText("#policy-registration", "Chosen by an administrator")
	e.shot("28-settings")
	var me struct{ Policies map[string]string }
	e.apiJSON("GET", "/api/auth/me/", boss, nil, 200, &me)
	if me.Policies["patients.visibility"] != "clinic" || me.Policies["registration"] != "closed" {
		t.Errorf("policies after saving = %v, want clinic and closed", me.Policies)
	}

	// ---- clinic mode: the lists say "Patients" ----
	c.do(chromedp.Navigate(base + "/#/patients"))
	c.do(chromedp.Reload())
	c.waitText("#page-title", "Patients")
	if got := c.eval(`document.getElementById('page-title').textContent + ' | ' + document.querySelector('.app-header .nav-links').textContent`); strings.Contains(got, "My patients") {
		t.Errorf("clinic mode still says My patients: %q", got)
	}
	c.shot("29-clinic-patients")

	// ---- backups: back up now, it appears in the list ----
	e.click("#admin-menu")
	e.click(`#admin-nav a[href="#/backups"]`)
	e.waitText("#page-title", "Backups")
	e.waitVisible("#backup-now:not([disabled])")
	before := e.eval(`String(document.querySelectorAll('#backups-table tbody tr').length)`)
	e.click("#backup-now")
	e.expectNotice("Backup written")
	e.waitFor(fmt.Sprintf(`document.querySelectorAll('#backups-table tbody tr').length === %s + 1`, before), "the new backup in the list")
	name := e.eval(`document.querySelector('#backups-table tbody tr code').textContent`)
	if !strings.HasPrefix(name, "healthcare-") {
		t.Errorf("backup name in the list = %q", name)
	}
	// The download fetches with the login's token (a plain link could not send it).
	got := e.evalAwait(`import('./js/api.js').then((m) => m.apiBlob('/api/admin/backups/' + ` + jsString(name) + `)).then((b) => String(b.size))`)
	if got == "0" || got == "" {
		t.Errorf("downloaded backup size = %q", got)
	}
	e.click(`#backups-table button[aria-label="Download ` + name + `"]`)
	e.waitFor(`!document.querySelector('#backup-error')`, "no download error")
	e.shot("30-backups")

	// ---- my account: sessions, end the others ----
	e.click("#account-menu")
	e.click("#my-account")
	e.waitText("#page-title", "My account")
	e.waitText("#sessions-table", "this browser")
	e.waitVisible("#end-other-sessions:not([disabled])") // the API logins above are other sessions
	e.shot("31-my-account")
	e.click("#end-other-sessions")
	e.expectNotice("Every other sign-in has ended")
	e.waitFor(`document.querySelectorAll('#sessions-table tbody tr').length === 1`, "only this browser left")
	e.apiJSON("GET", "/api/auth/me/", boss, nil, 401, nil) // that API login ended

	e.checkConsole()
	c.checkConsole()
}

// TestE2ETabs (issue 10): one login shared by the tabs of a browser. A new tab is signed in by the
// others; with 32-second access tokens (refreshed every few seconds) both tabs stay signed in across
// several refreshes, always holding the same, newest tokens, with one login on the server; a reload
// keeps it. A policy set in the configuration is read-only in Settings. Then the idle timeout (40 s):
// the warning, "Stay signed in", and the sign-out of every tab when nobody does anything.
func TestE2ETabs(t *testing.T) {
	if os.Getenv("HEALTHCARE_E2E_BASE_URL") != "" {
		t.Skip("needs its own server (HEALTHCARE_E2E_BASE_URL is set)")
	}
	browser := findBrowser(t)
	base, stop := startServer(t, "HEALTHCARE_AUTH_ACCESS_TOKEN_TTL=32s", "HEALTHCARE_AUTH_IDLE_TIMEOUT=40s",
		"HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD="+password, "HEALTHCARE_DOCTORS_WRITES=admin")
	defer stop()
	e := newSession(t, browser, base)
	e.signIn("boss")

	// A second tab of the same browser: signed in without typing anything.
	tabCtx, closeTab := chromedp.NewContext(e.ctx)
	defer closeTab()
	t2 := &session{t: t, ctx: tabCtx, base: base, shots: e.shots}
	t2.collectConsole()
	t2.do(chromedp.Navigate(base + "/#/doctors"))
	t2.waitText("#page-title", "Doctors")

	refresh := func(s *session) string {
		return s.eval(`(JSON.parse(sessionStorage.getItem('hc.tokens') || 'null') || {refresh: ''}).refresh`)
	}
	poke := `document.dispatchEvent(new Event('pointerdown')), 'ok'` // someone is using the tab
	last := refresh(e)
	for i := 0; i < 4; i++ {
		deadline := time.Now().Add(25 * time.Second)
		for refresh(e) == last {
			if time.Now().After(deadline) {
				t.Fatalf("refresh %d: the tokens were not refreshed in 25 s", i+1)
			}
			e.eval(poke)
			t2.eval(poke)
			time.Sleep(500 * time.Millisecond)
		}
		last = refresh(e)
		t2.waitFor(`(JSON.parse(sessionStorage.getItem('hc.tokens')) || {}).refresh === `+jsString(last), "the other tab has the newest tokens")
		if i == 1 {
			t2.do(chromedp.Reload()) // a reload keeps the login
			t2.waitText("#page-title", "Doctors")
		}
	}
	for _, s := range []*session{e, t2} {
		s.do(chromedp.Navigate(base + "/#/doctors"))
		s.waitText("#page-title", "Doctors")
		s.waitVisible(".empty-state, #doctors-table")
		if s.eval(`String(!!document.querySelector('.banner-info'))`) == "true" || !strings.Contains(s.location(), "#/doctors") {
			t.Errorf("a tab was signed out: %s", s.location())
		}
	}
	// One login on the server for both tabs.
	access := e.eval(`JSON.parse(sessionStorage.getItem('hc.tokens')).access`)
	var sessions []map[string]any
	e.apiJSON("GET", "/api/auth/sessions/", access, nil, 200, &sessions)
	if len(sessions) != 1 {
		b, _ := json.Marshal(sessions)
		t.Errorf("logins on the server = %d, want 1 shared by both tabs: %s", len(sessions), b)
	}

	// ---- a policy set in the configuration is read-only, with its key ----
	e.do(chromedp.Navigate(base + "/#/settings"))
	e.waitText("#policy-doctors-writes", "Set in the configuration")
	e.waitText("#policy-doctors-writes", "doctors.writes")
	if got := e.eval(`String([...document.querySelectorAll('input[name="doctors.writes"]')].every((i) => i.disabled))`); got != "true" {
		t.Errorf("the locked policy's choices are not all disabled")
	}
	if got := e.eval(`String([...document.querySelectorAll('input[name="registration"]')].some((i) => i.disabled))`); got != "false" {
		t.Errorf("an unlocked policy's choices are disabled")
	}
	e.shot("32-settings-locked")

	// ---- idle: the warning 20 s before (half of a short timeout), "Stay signed in", then the end ----
	e.waitLong(`!!document.getElementById('idle-warning')`, "the idle warning", 40*time.Second)
	t2.waitVisible("#idle-warning") // the other tab warns too: activity is counted across tabs
	e.shot("33-idle-warning")
	e.click("#stay-signed-in")
	e.waitFor(`!document.getElementById('idle-warning')`, "the warning gone after Stay signed in")
	t2.waitFor(`!document.getElementById('idle-warning')`, "the other tab's warning gone too")
	// Nobody does anything now: both tabs end up on the sign-in screen, saying why.
	for _, s := range []*session{e, t2} {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(s.eval(`document.querySelector('.banner-info') ? document.querySelector('.banner-info').textContent : ''`), "without activity") {
			if time.Now().After(deadline) {
				t.Fatalf("not signed out after the idle timeout: %s", s.location())
			}
			time.Sleep(time.Second)
		}
	}
	e.shot("34-idle-signed-out")
	e.checkConsole()
	t2.checkConsole()
}

// setupToken reads the one-time setup token from the server's log.
func setupToken(t *testing.T, base string) string {
	t.Helper()
	p, ok := serverLogs.Load(base)
	if !ok {
		t.Fatal("no log for this server")
	}
	b, err := os.ReadFile(p.(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "setup_token="); i >= 0 {
			tok := strings.Fields(line[i+len("setup_token="):])[0]
			return strings.Trim(tok, `"`)
		}
	}
	t.Fatalf("no setup_token in the server log:\n%s", tail(string(b), 4000))
	return ""
}

// evalAwait evaluates a promise-valued expression and returns its string result.
func (e *session) evalAwait(js string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// waitLong waits up to d for a JavaScript condition (longer than waitFor's 20 s).
func (e *session) waitLong(cond, what string, d time.Duration) {
	e.t.Helper()
	for deadline := time.Now().Add(d); e.eval(`String(!!(`+cond+`))`) != "true"; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting for %s: not after %s (at %s)", what, d, e.location())
		}
	}
}
