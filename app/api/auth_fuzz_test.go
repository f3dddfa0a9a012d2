package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"healthcare/app/api/apitest"
)

var authFuzzPaths = []string{"/api/auth/register/", "/api/auth/login/", "/api/auth/login/refresh/", "/api/auth/logout/"}

// FuzzAuthBodies posts arbitrary bodies to the auth endpoints: never a 5xx, always a JSON answer.
func FuzzAuthBodies(f *testing.F) {
	e := apitest.New(f)
	e.Register(f, "alice")
	_, refresh := e.Login("alice")
	seeds := []string{
		``, `{}`, `[]`, `null`, `"x"`, `1e999`, `{"username": `, `{"username": null, "password": null}`,
		`{"username": "alice", "password": "Str0ng!Passw0rd"}`,
		`{"username": "alice", "email": "a@b.co", "password": "Str0ng!Passw0rd", "password2": "Str0ng!Passw0rd"}`,
		`{"username": ["a"], "email": {"x": 1}, "password": 12345678, "password2": true}`,
		`{"username": "a\u0000b", "password": "\ud800"}`,
		`{"username": "` + strings.Repeat("é", 400) + `", "email": "` + strings.Repeat("a", 300) + `@x.io", "password": "p", "password2": "p"}`,
		`{"refresh": "garbage"}`, `{"refresh": 42}`, `{"refresh": "` + refresh + `"}`,
		`{"refresh": "eyJhbGciOiJub25lIn0.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9."}`,
		`{"username": "x", "username": "y", "password": "z"}`, "\xff\xfe{}", `{"a":` + strings.Repeat("[", 5000) + `}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := authFuzzPaths[int(which)%len(authFuzzPaths)]
		resp, err := client.Post(e.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, resp.StatusCode, data)
		}
		if resp.StatusCode == http.StatusNoContent {
			return // logout with a valid token
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(data) {
			t.Fatalf("POST %s %q: %d, not JSON: %q", path, body, resp.StatusCode, data)
		}
	})
}
