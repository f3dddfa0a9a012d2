package api_test

import (
	"testing"

	"healthcare/app/api/apitest"
)

// TestAPIRoot: the original's API root lists the three collections for a signed-in caller.
func TestAPIRoot(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	token := e.User("alice")
	for _, path := range []string{"/api/", "/api"} {
		r := e.Get(path, "")
		if r.Status != 401 || string(r.Body) != `{"detail":"Authentication credentials were not provided."}` {
			t.Errorf("GET %s without a token: %d %s", path, r.Status, r.Body)
		}
		r = e.Get(path, token)
		want := `{"doctors":"` + e.URL + `/api/doctors/","patients":"` + e.URL + `/api/patients/","mappings":"` + e.URL + `/api/mappings/"}`
		if r.Status != 200 || string(r.Body) != want {
			t.Errorf("GET %s: %d %s, want %s", path, r.Status, r.Body, want)
		}
	}
	if r := e.Post("/api/", token, map[string]any{}); r.Status != 405 {
		t.Errorf("POST /api/: %d %s", r.Status, r.Body)
	}
}
