package apitest

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/store"
)

// Password is the password of every account the helpers create (it passes the password policy).
const Password = "Str0ng!Passw0rd"

// newAuth builds the authentication service for a test server.
func newAuth(t testing.TB, cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) *auth.Service {
	t.Helper()
	svc, err := auth.New(cfg, store.New(pool, cfg.Database.QueryTimeout), log)
	if err != nil {
		t.Fatalf("apitest: auth.New: %v", err)
	}
	return svc
}

// Register creates the account username (email <username>@example.com, password Password) through
// POST /api/auth/register/ and returns its id; anything but 201 fails the test.
func (e *Env) Register(t testing.TB, username string) int64 {
	t.Helper()
	resp := e.Do(Request{Method: http.MethodPost, Path: "/api/auth/register/", Body: map[string]string{
		"username": username, "email": username + "@example.com", "password": Password, "password2": Password,
	}})
	if resp.Status != http.StatusCreated {
		t.Fatalf("apitest: register %q: %d %s", username, resp.Status, resp.Body)
	}
	var out struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	resp.Decode(t, &out)
	return out.User.ID
}

// Login logs username in with Password through POST /api/auth/login/ and returns its tokens.
func (e *Env) Login(username string) (access, refresh string) {
	e.T.Helper()
	resp := e.Do(Request{Method: http.MethodPost, Path: "/api/auth/login/", Body: map[string]string{
		"username": username, "password": Password,
	}})
	if resp.Status != http.StatusOK {
		e.T.Fatalf("apitest: login %q: %d %s", username, resp.Status, resp.Body)
	}
	var out struct{ Access, Refresh string }
	resp.Decode(e.T, &out)
	if out.Access == "" || out.Refresh == "" {
		e.T.Fatalf("apitest: login %q: no tokens in %s", username, resp.Body)
	}
	return out.Access, out.Refresh
}

// User registers username and returns an access token for it: the one-liner for tests that need
// "a logged-in user".
func (e *Env) User(username string) string {
	e.T.Helper()
	e.Register(e.T, username)
	access, _ := e.Login(username)
	return access
}

// Store returns a store on the test database, for arranging state the API cannot (deactivating or
// deleting a user, reading rows back).
func (e *Env) Store() *store.Store { return store.New(e.pool, e.Config.Database.QueryTimeout) }

// MustExec runs SQL on the test database (arranging tests); it fails the test on error.
func (e *Env) MustExec(sql string, args ...any) {
	e.T.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.T.Fatalf("apitest: %s: %v", sql, err)
	}
}

// UserID returns the id of username (which must exist).
func (e *Env) UserID(username string) int64 {
	e.T.Helper()
	u, err := e.Store().UserByUsername(context.Background(), username)
	if err != nil {
		e.T.Fatalf("apitest: user %q: %v", username, err)
	}
	return u.ID
}

// Admin registers username, makes it an administrator (as `healthcare admin create` would) and
// returns an access token for it.
func (e *Env) Admin(username string) string {
	e.T.Helper()
	e.Register(e.T, username)
	e.MustExec(`UPDATE users SET role = 'admin' WHERE username = $1`, username)
	access, _ := e.Login(username)
	return access
}

// SetPolicy stores a clinic policy as an administrator's choice (the settings table), as
// PUT /api/admin/settings/ does; it is in force at the next request.
func (e *Env) SetPolicy(name, value string) {
	e.T.Helper()
	e.MustExec(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, name, value)
}

// SetupToken makes a first-run setup token, as the server does at start while no administrator exists.
func (e *Env) SetupToken() string {
	e.T.Helper()
	tok, err := auth.NewSetupToken(context.Background(), e.Store())
	if err != nil {
		e.T.Fatalf("apitest: setup token: %v", err)
	}
	return tok
}
