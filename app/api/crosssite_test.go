package api_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

const crossSiteBody = `{"detail":"CSRF Failed: Forms posted from another site are refused; send JSON with Content-Type: application/json."}`

// TestCrossSiteForms: a form body that a page on another site can make a browser post without a
// preflight is refused with 403 when the browser says so (Sec-Fetch-Site, else Origin); the
// original's curl clients, which send neither, same-origin browser posts and JSON keep working;
// a refused post spends no rate-limit budget (issue 16, item 4).
func TestCrossSiteForms(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.LoginPerAddress = 3
		c.RateLimit.RegisterPerAddress = 100
	})
	access := e.User("alice")
	self := e.URL // scheme://host:port of the server under test
	formCT := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	with := func(base map[string]string, kv ...string) map[string]string {
		h := map[string]string{}
		for k, v := range base {
			h[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	n := 0
	register := func() string {
		n++
		return url.Values{"username": {fmt.Sprintf("form%d", n)}, "email": {fmt.Sprintf("form%d@example.com", n)},
			"password": {apitest.Password}, "password2": {apitest.Password}}.Encode()
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("username", "alice")
	_ = mw.WriteField("password", apitest.Password)
	mw.Close()
	multipartCT := map[string]string{"Content-Type": mw.FormDataContentType()}
	loginForm := url.Values{"username": {"alice"}, "password": {apitest.Password}}.Encode()
	loginJSON := map[string]string{"username": "alice", "password": apitest.Password}

	for _, tc := range []struct {
		Name   string
		Path   string
		Token  string
		Body   any
		Header map[string]string
		Status int
	}{
		{"curl -d register (no Origin, no Sec-Fetch-Site)", "/api/auth/register/", "", register(), formCT, 201},
		{"same-origin browser form (Sec-Fetch-Site)", "/api/auth/register/", "", register(), with(formCT, "Sec-Fetch-Site", "same-origin", "Origin", self), 201},
		{"same-origin browser form (Origin only)", "/api/auth/register/", "", register(), with(formCT, "Origin", self), 201},
		{"user-initiated (Sec-Fetch-Site none)", "/api/auth/register/", "", register(), with(formCT, "Sec-Fetch-Site", "none"), 201},
		{"cross-site form register", "/api/auth/register/", "", register(), with(formCT, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), 403},
		{"same-site (another subdomain) form", "/api/auth/register/", "", register(), with(formCT, "Sec-Fetch-Site", "same-site"), 403},
		{"cross-site form, Origin only", "/api/auth/register/", "", register(), with(formCT, "Origin", "https://evil.example"), 403},
		{"cross-site form, Origin of another port", "/api/auth/register/", "", register(), with(formCT, "Origin", strings.TrimSuffix(self, self[strings.LastIndexByte(self, ':'):])+":1"), 403},
		{"sandboxed page (Origin null)", "/api/auth/register/", "", register(), with(formCT, "Origin", "null"), 403},
		{"cross-site form login", "/api/auth/login/", "", loginForm, with(formCT, "Sec-Fetch-Site", "cross-site"), 403},
		{"cross-site multipart login", "/api/auth/login/", "", mp.Bytes(), with(multipartCT, "Origin", "https://evil.example"), 403},
		{"cross-site text/plain login", "/api/auth/login/", "", `{"username":"alice"}`, map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, 403},
		{"cross-site body without a type", "/api/auth/logout/", "", `{"refresh":"x"}`, map[string]string{"Content-Type": "", "Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site form to a protected list", "/api/doctors/", access, url.Values{"name": {"D"}, "specialization": {"S"}, "contact_info": {"c@x"}}.Encode(),
			with(formCT, "Sec-Fetch-Site", "cross-site"), 403},
		{"JSON from another origin (preflighted in browsers)", "/api/auth/login/", "", loginJSON, map[string]string{"Origin": "https://evil.example"}, 200},
	} {
		r := e.Do(apitest.Request{Method: "POST", Path: tc.Path, Token: tc.Token, Body: tc.Body, Header: tc.Header})
		if r.Status != tc.Status {
			t.Errorf("%s: status %d, want %d: %s", tc.Name, r.Status, tc.Status, r.Body)
			continue
		}
		if tc.Status == 403 && string(r.Body) != crossSiteBody {
			t.Errorf("%s: body %s", tc.Name, r.Body)
		}
	}

	// Refused posts cost nothing: the login budget (3 per address here, one spent above) is intact.
	for range 5 {
		e.Do(apitest.Request{Method: "POST", Path: "/api/auth/login/", Body: loginForm, Header: with(formCT, "Origin", "https://evil.example")})
	}
	if r := e.Do(apitest.Request{Method: "POST", Path: "/api/auth/login/", Body: loginForm, Header: formCT}); r.Status != 200 {
		t.Errorf("curl -d login after refused cross-site posts: %d %s", r.Status, r.Body)
	}
}
