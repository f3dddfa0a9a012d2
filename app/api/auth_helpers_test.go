package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"healthcare/app/api/apitest"
)

// authCase is one request of an auth scenario table and what must come back.
type authCase struct {
	Name      string
	Method    string // default POST
	URL       string
	Body      any // string: sent raw; anything else as JSON; nil: no body
	Token     string
	Header    map[string]string
	Status    int
	JSON      string   // exact expected body (key order included); empty: not compared
	Prefix    string   // the body must start with this (for messages carrying parser details)
	Challenge bool     // WWW-Authenticate: Bearer realm="api" expected
	Keys      []string // the body must be an object with exactly these keys, in this order
	NoOpenAPI bool
	Check     func(t *testing.T, r *apitest.Response)
}

// runAuth runs cases in order against one server, each as a subtest.
func runAuth(t *testing.T, e *apitest.Env, cases []authCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			parent := e.T
			e.T = t // failures inside Do belong to this subtest
			defer func() { e.T = parent }()
			m := c.Method
			if m == "" {
				m = http.MethodPost
			}
			r := e.Do(apitest.Request{Method: m, Path: c.URL, Body: c.Body, Token: c.Token, Header: c.Header, NoOpenAPI: c.NoOpenAPI})
			checkAuthResponse(t, c, r)
		})
	}
}

func checkAuthResponse(t *testing.T, c authCase, r *apitest.Response) {
	t.Helper()
	if r.Status != c.Status {
		t.Fatalf("status %d, want %d; body %s", r.Status, c.Status, r.Body)
	}
	if r.Status >= 500 {
		t.Fatalf("server error: %s", r.Body)
	}
	if r.Status != http.StatusNoContent && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type %q, want JSON", r.Header.Get("Content-Type"))
	}
	if c.JSON != "" {
		var want, got bytes.Buffer
		if err := json.Compact(&want, []byte(c.JSON)); err != nil {
			t.Fatalf("bad expected JSON %s: %v", c.JSON, err)
		}
		if err := json.Compact(&got, r.Body); err != nil {
			t.Fatalf("body is not JSON: %q", r.Body)
		}
		if got.String() != want.String() {
			t.Fatalf("body\n got %s\nwant %s", got.String(), want.String())
		}
	}
	if c.Prefix != "" && !strings.HasPrefix(string(r.Body), c.Prefix) {
		t.Fatalf("body %s does not start with %s", r.Body, c.Prefix)
	}
	if ch := r.Header.Get("WWW-Authenticate"); c.Challenge != (ch == `Bearer realm="api"`) {
		t.Fatalf("WWW-Authenticate %q (expected: %v)", ch, c.Challenge)
	}
	if c.Keys != nil {
		if got := objectKeys(t, r.Body); strings.Join(got, ",") != strings.Join(c.Keys, ",") {
			t.Fatalf("keys %v, want %v; body %s", got, c.Keys, r.Body)
		}
	}
	if c.Check != nil {
		c.Check(t, r)
	}
}

// objectKeys lists a JSON object's keys in order.
func objectKeys(t testing.TB, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", data)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// tokenClaims decodes a JWT's payload without verifying it.
func tokenClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// forge signs claims with key using HS256.
func forge(t testing.TB, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodClaims are claims our server would issue for userID, as a starting point for forgeries.
func goodClaims(e *apitest.Env, userID int64, typ string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"token_type": typ, "exp": exp.Unix(), "iat": time.Now().Add(-time.Minute).Unix(),
		"jti": "deadbeefdeadbeefdeadbeefdeadbeef", "user_id": itoaID(userID),
		"iss": e.Config.Auth.Issuer, "aud": []string{e.Config.Auth.Audience},
	}
}

func itoaID(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// tamper replaces a token's payload, keeping its header and signature.
func tamper(t testing.TB, tok string, edit func(map[string]any)) string {
	t.Helper()
	c := tokenClaims(t, tok)
	edit(c)
	raw, _ := json.Marshal(c)
	parts := strings.Split(tok, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

// algNone builds an unsigned token ("alg": "none") with the given claims.
func algNone(claims jwt.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// tokensOf decodes a login or refresh response.
func tokensOf(t testing.TB, r *apitest.Response) (access, refresh string) {
	t.Helper()
	var v struct{ Access, Refresh string }
	r.Decode(t, &v)
	return v.Access, v.Refresh
}
