package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

type tokenPair struct{ Access, Refresh string }

func refreshWith(t *testing.T, e *apitest.Env, refresh string) (*apitest.Response, tokenPair) {
	t.Helper()
	r := e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": refresh})
	var p tokenPair
	if r.Status == 200 {
		r.Decode(t, &p)
	}
	return r, p
}

// TestRefreshGraceWindow: a client whose refresh answer was lost presents the old token again
// within the grace window and gets the same successor (also when two tabs refresh at once); after
// the window, that reuse revokes the whole login.
func TestRefreshGraceWindow(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Auth.RefreshGrace = 2 * time.Second })
	e.Register(t, "alice")
	_, r0 := e.Login("alice")

	r, p1 := refreshWith(t, e, r0)
	expectStatus(t, r, 200, "first refresh")
	r, again := refreshWith(t, e, r0) // the answer above was "lost"
	expectStatus(t, r, 200, "the old token within the grace window")
	if again.Refresh != p1.Refresh {
		t.Fatal("the grace window gave another successor, not the same one")
	}
	if again.Access == "" {
		t.Fatal("no access token")
	}
	expectStatus(t, e.Get("/api/auth/me/", again.Access), 200, "its access token")
	// The successor goes on normally.
	r, p2 := refreshWith(t, e, p1.Refresh)
	expectStatus(t, r, 200, "the successor refreshes")

	// Two tabs refresh with the same token at once: both get the same successor, the login lives.
	var wg sync.WaitGroup
	got := make([]tokenPair, 2)
	statuses := make([]int, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, b, err := rawPost(&http.Client{}, e.URL+"/api/auth/login/refresh/", map[string]string{"refresh": p2.Refresh})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = st
			got[i].Refresh = extractJSON(string(b), "refresh")
		}()
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 || got[0].Refresh != got[1].Refresh || got[0].Refresh == "" {
		t.Fatalf("two tabs: %v, same successor %v", statuses, got[0].Refresh == got[1].Refresh)
	}
	p3 := got[0]

	// After the window the retired token is reuse: the whole login ends.
	time.Sleep(2500 * time.Millisecond)
	r, _ = refreshWith(t, e, p2.Refresh)
	expectStatus(t, r, 401, "the old token after the window")
	r, _ = refreshWith(t, e, p3.Refresh)
	expectStatus(t, r, 401, "the newest token after the reuse")
	// An older token than the last one replaced is reuse even within the window.
	_, q0 := e.Login("alice")
	_, q1 := refreshWith(t, e, q0)
	refreshWith(t, e, q1.Refresh)
	r, _ = refreshWith(t, e, q0)
	expectStatus(t, r, 401, "a token two rotations old")
}

// extractJSON returns the string value of key in a flat JSON object (enough for token bodies).
func extractJSON(body, key string) string {
	i := strings.Index(body, `"`+key+`":"`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(key)+4:]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestIdleTimeout: a login not refreshed for auth.idle_timeout ends: refresh fails as expired, and
// one refreshed in time lives on.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {
		c.Auth.AccessTokenTTL, c.Auth.IdleTimeout, c.Auth.SessionMaxAge = time.Second, 2*time.Second, time.Hour
	})
	e.Register(t, "alice")
	_, idle := e.Login("alice")
	_, active := e.Login("alice")
	for range 3 {
		time.Sleep(1200 * time.Millisecond)
		r, p := refreshWith(t, e, active)
		expectStatus(t, r, 200, "refreshed within the idle timeout")
		active = p.Refresh
	}
	r, _ := refreshWith(t, e, idle)
	expectStatus(t, r, 401, "refresh after the idle timeout")
	if !strings.Contains(string(r.Body), "Token is expired") {
		t.Errorf("idle body %s", r.Body)
	}
	// It is no longer among the sessions.
	access, _ := e.Login("alice")
	var sessions []struct{ ID string }
	expectStatus(t, e.Get("/api/auth/sessions/", access), 200, "sessions").Decode(t, &sessions)
	if len(sessions) != 2 {
		t.Errorf("%d live sessions, want 2 (the active one and this one)", len(sessions))
	}
}

// TestSessionMaxAge: a login ends auth.session_max_age after sign-in however active it is; its
// access tokens stop with it.
func TestSessionMaxAge(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {
		c.Auth.AccessTokenTTL, c.Auth.IdleTimeout, c.Auth.SessionMaxAge = time.Second, 2*time.Second, 3*time.Second
	})
	e.Register(t, "alice")
	access, refresh := e.Login("alice")
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		time.Sleep(700 * time.Millisecond)
		r, p := refreshWith(t, e, refresh)
		expectStatus(t, r, 200, "refresh within the lifetime")
		access, refresh = p.Access, p.Refresh
	}
	time.Sleep(time.Until(start.Add(3200 * time.Millisecond)))
	r, _ := refreshWith(t, e, refresh)
	expectStatus(t, r, 401, "refresh after the lifetime")
	expectStatus(t, e.Get("/api/auth/me/", access), 401, "access after the lifetime")
	e.Login("alice") // a new sign-in starts a new lifetime
}

// TestMySessions: a user lists their live logins (the current one marked), ends one, or all the
// others, and never sees or ends anyone else's.
func TestMySessions(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	bob := e.User("bob")
	phone := e.Do(apitest.Request{Method: "POST", Path: "/api/auth/login/", Header: map[string]string{"User-Agent": "Clinic phone"},
		Body: map[string]string{"username": "alice", "password": apitest.Password}})
	var phoneTok tokenPair
	expectStatus(t, phone, 200, "phone login").Decode(t, &phoneTok)
	desk, _ := e.Login("alice")
	type session struct {
		ID            string
		Current       bool
		UserAgent     string `json:"user_agent"`
		ClientAddress string `json:"client_address"`
	}
	var list []session
	expectStatus(t, e.Get("/api/auth/sessions/", desk), 200, "list").Decode(t, &list)
	if len(list) != 2 || !list[0].Current || list[1].Current || list[1].UserAgent != "Clinic phone" || list[1].ClientAddress != "127.0.0.1" {
		t.Fatalf("sessions %+v", list)
	}
	expectStatus(t, e.Delete("/api/auth/sessions/"+list[1].ID+"/", bob), 404, "bob ends alice's session")
	expectStatus(t, e.Delete("/api/auth/sessions/not-a-uuid/", desk), 404, "garbage id")
	expectStatus(t, e.Delete("/api/auth/sessions/"+list[1].ID+"/", desk), 204, "end the phone")
	expectStatus(t, e.Get("/api/auth/me/", phoneTok.Access), 401, "the phone's access token")
	r, _ := refreshWith(t, e, phoneTok.Refresh)
	expectStatus(t, r, 401, "the phone's refresh token")
	expectStatus(t, e.Delete("/api/auth/sessions/"+list[1].ID+"/", desk), 404, "ended already")

	e.Login("alice")
	e.Login("alice")
	expectStatus(t, e.Delete("/api/auth/sessions/", desk), 204, "end the others")
	expectStatus(t, e.Get("/api/auth/sessions/", desk), 200, "list").Decode(t, &list)
	if len(list) != 1 || !list[0].Current {
		t.Fatalf("after ending the others: %+v", list)
	}
	expectStatus(t, e.Get("/api/auth/me/", bob), 200, "bob is not affected")
}

// TestPasswordChange: the caller changes their password: every other login ends, the answer is a
// new login, the old password stops working; a wrong old password and a weak new one are 400.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	access, _ := e.Login("alice")
	other, otherRefresh := e.Login("alice")
	change := func(old, p1, p2 string) *apitest.Response {
		return e.Post("/api/auth/password/", access, map[string]string{"old_password": old, "new_password1": p1, "new_password2": p2})
	}
	r := expectStatus(t, change("wrong", "N3w!Password-x", "N3w!Password-x"), 400, "wrong old password")
	if !strings.Contains(string(r.Body), `"old_password":["Your old password was entered incorrectly. Please enter it again."]`) {
		t.Errorf("body %s", r.Body)
	}
	r = expectStatus(t, change(apitest.Password, "N3w!Password-x", "N3w!Password-y"), 400, "mismatch")
	if !strings.Contains(string(r.Body), "new_password2") {
		t.Errorf("body %s", r.Body)
	}
	r = expectStatus(t, change(apitest.Password, "12345678", "12345678"), 400, "weak")
	if !strings.Contains(string(r.Body), "This password is entirely numeric.") {
		t.Errorf("body %s", r.Body)
	}
	expectStatus(t, e.Post("/api/auth/password/", access, map[string]string{}), 400, "missing fields")
	var pair tokenPair
	expectStatus(t, change(apitest.Password, "N3w!Password-x", "N3w!Password-x"), 200, "change").Decode(t, &pair)
	for _, tok := range []string{access, other} {
		expectStatus(t, e.Get("/api/auth/me/", tok), 401, "an earlier login")
	}
	r, _ = refreshWith(t, e, otherRefresh)
	expectStatus(t, r, 401, "an earlier refresh token")
	expectStatus(t, e.Get("/api/auth/me/", pair.Access), 200, "the new login")
	expectStatus(t, e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": apitest.Password}), 401, "the old password")
	expectStatus(t, e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": "N3w!Password-x"}), 200, "the new password")
}

// TestLockout: failed logins lock the (username, address) pair, not the user: the same user from
// another address still signs in, successful logins do not count, and many failures for one
// username from many addresses slow its logins down instead of refusing them.
func TestLockout(t *testing.T) {
	t.Parallel()
	from := lockoutServer(t, 6)
	// Successful logins do not count: many, then still three failures allowed.
	for range 5 {
		expectStatus(t, from("10.0.0.1", apitest.Password), 200, "success")
	}
	for range 3 {
		expectStatus(t, from("10.0.0.2", "wrong"), 401, "stranger's failure")
	}
	r := from("10.0.0.2", apitest.Password)
	checkThrottled(t, r.Status, r.Header, r.Body)
	// The stranger's address is locked for alice; alice at her own address is not.
	expectStatus(t, from("10.0.0.1", apitest.Password), 200, "alice from her address")

	// Failures from many addresses: past login_slow_per_username the logins slow down, never 429.
	for i := range 3 {
		expectStatus(t, from(fmt.Sprintf("10.0.1.%d", i), "wrong"), 401, "spread failure")
	}
	begin := time.Now()
	expectStatus(t, from("10.0.0.1", apitest.Password), 200, "alice, slowed")
	if took := time.Since(begin); took < time.Second {
		t.Errorf("login after %d failures from several addresses took %v, want a delay of at least 1s", 6, took)
	}
}

// TestLockoutIPv6Network: an IPv6 client can pick any address of its /64, so the per-address
// login limit counts the /64: failures spread over it lock the pair all the same, and another /64
// still signs in.
func TestLockoutIPv6Network(t *testing.T) {
	t.Parallel()
	from := lockoutServer(t, 50)
	for i := range 3 {
		expectStatus(t, from(fmt.Sprintf("2001:db8:1:2::%x", i+1), "wrong"), 401, "a failure from the /64")
	}
	r := from("2001:db8:1:2:ffff:ffff:ffff:fffe", apitest.Password)
	checkThrottled(t, r.Status, r.Header, r.Body)
	expectStatus(t, from("2001:db8:1:3::1", apitest.Password), 200, "another /64")
}

// lockoutServer starts a server behind a trusted proxy (127.0.0.1) whose failed logins lock the
// (username, address) pair after 3 and slow a username's logins after slowAfter, with the account
// alice; the function it returns logs alice in with password from the client address addr.
func lockoutServer(t *testing.T, slowAfter int) func(addr, password string) *apitest.Response {
	e := apitest.New(t, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.LoginPerUsername, c.RateLimit.LoginPerAddress, c.RateLimit.LoginSlowUsername = 3, 100, slowAfter
		c.RateLimit.LoginWindow = longWindow
		c.Server.TrustedProxies = []string{"127.0.0.1"}
	})
	e.Register(t, "alice")
	return func(addr, password string) *apitest.Response {
		return e.Do(apitest.Request{Method: "POST", Path: "/api/auth/login/", Header: map[string]string{"X-Forwarded-For": addr},
			Body: map[string]string{"username": "alice", "password": password}})
	}
}
