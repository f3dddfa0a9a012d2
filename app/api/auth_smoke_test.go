package api_test

import (
	"net/http"
	"testing"

	"healthcare/app/api/apitest"
)

// TestAuthHelpers checks the helpers other tests build on: Register, Login, User and /me.
func TestAuthHelpers(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	tok := e.User("alice")
	r := e.Get("/api/auth/me/", tok)
	if r.Status != http.StatusOK {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	var me struct {
		ID       int64
		Username string
		Email    string
	}
	r.Decode(t, &me)
	if me.Username != "alice" || me.Email != "alice@example.com" || me.ID != e.UserID("alice") {
		t.Fatalf("me: %s", r.Body)
	}
	if r := e.Get("/api/auth/me/", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("me without token: %d %s", r.Status, r.Body)
	}
}
