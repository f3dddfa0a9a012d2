package api_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"healthcare/app/api/apitest"
	"healthcare/app/auth"
	"healthcare/app/config"
)

// The original system's committed SECRET_KEY (ananya5151/HeathCare-Backend,
// healthcare_backend/settings.py). Tokens signed with it must be worthless here.
const originalSecretKey = "django-insecure-fc+$gh1+a#4u#%w^zt56*m(e8ey_c0cqd=*5%hgcof^p+)8&@3"

// Tokens recorded from the original (seed transcripts), signed with originalSecretKey.
const (
	originalRefresh = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NTcyNzc4NCwiaWF0IjoxNzk1NjQxMzg0LCJqdGkiOiIyMDJjNThiZDhmZTM0YThhOTQ3NTgyNGYwYzBkMGMwZiIsInVzZXJfaWQiOjF9.Rc4ryg1shjXqtMU037CD_E1RKvL1ZjNWJfopdCr2QBM"
	originalAccess  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzk1NjQxNjg0LCJpYXQiOjE3OTU2NDEzODQsImp0aSI6ImMxZjFiYWE1ZjYwZDRkN2Y4ZmY2YzVlZTllZTY5NTc3IiwidXNlcl9pZCI6MX0.5CeSFam45NPQrd81EBdzLxtjuMwOx-kynSkys1cz16U"
)

// Response bodies of API.md and the transcripts.
const (
	bodyNotProvided = `{"detail": "Authentication credentials were not provided."}`
	bodyBadLogin    = `{"detail": "No active account found with the given credentials"}`
)

func bodyAccessRefused(msg string) string {
	return `{"detail": "Given token not valid for any token type", "code": "token_not_valid", "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "` + msg + `"}]}`
}

func bodyRefreshRefused(msg string) string {
	return `{"detail": "` + msg + `", "code": "token_not_valid"}`
}

func register(username, email, password, password2 string) map[string]string {
	return map[string]string{"username": username, "email": email, "password": password, "password2": password2}
}

const pw = apitest.Password

// TestAuthTranscriptKey proves the forged tokens below use the original's real key: it reproduces
// the recorded token's signature.
func TestAuthTranscriptKey(t *testing.T) {
	t.Parallel()
	i := strings.LastIndexByte(originalRefresh, '.')
	sig, err := jwt.SigningMethodHS256.Sign(originalRefresh[:i], []byte(originalSecretKey))
	if err != nil || base64.RawURLEncoding.EncodeToString(sig) != originalRefresh[i+1:] {
		t.Fatalf("the original SECRET_KEY does not reproduce the transcript's signature")
	}
}

func TestAuthRegister(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	userKeys := func(t *testing.T, r *apitest.Response) {
		var v struct{ User map[string]any }
		r.Decode(t, &v)
		for _, k := range []string{"id", "username", "email", "date_joined"} {
			if _, ok := v.User[k]; !ok {
				t.Fatalf("user lacks %s: %s", k, r.Body)
			}
		}
	}
	long := strings.Repeat("u", 151)
	runAuth(t, e, []authCase{
		{Name: "success", URL: "/api/auth/register/", Body: register("alice", "alice@example.com", pw, pw), Status: 201,
			Prefix: `{"message":"User registered successfully.","user":{"id":1,"username":"alice","email":"alice@example.com","date_joined":"`, Check: userKeys},
		{Name: "second user bob", URL: "/api/auth/register/", Body: register("bob", "bob@example.com", pw, pw), Status: 201, Keys: []string{"message", "user"}},
		{Name: "password mismatch", URL: "/api/auth/register/", Body: register("carol", "carol@example.com", pw, "different1!"), Status: 400,
			JSON: `{"password": ["Password fields didn't match."]}`},
		{Name: "duplicate username", URL: "/api/auth/register/", Body: register("alice", "alice2@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["A user with that username already exists."]}`},
		// Only a request valid in every other way learns that a username exists (issue 16): a
		// throw-away password gets the password's errors, all at once, and nothing about alice.
		{Name: "duplicate username with a refused password: nothing about the username", URL: "/api/auth/register/", Body: register("alice", "alice2@example.com", "a", "b"), Status: 400,
			JSON: `{"password": ["Password fields didn't match.", "This password is too short. It must contain at least 8 characters.", "This password is too common."]}`},
		{Name: "bad email and weak password: every field error in one answer", URL: "/api/auth/register/", Body: register("newbie", "not-an-email", "1", "1"), Status: 400,
			JSON: `{"email": ["Enter a valid email address."], "password": ["This password is too short. It must contain at least 8 characters.", "This password is too common.", "This password is entirely numeric."]}`},
		{Name: "weak password 1 is refused (difference 3)", URL: "/api/auth/register/", Body: register("weak", "weak@example.com", "1", "1"), Status: 400,
			JSON: `{"password": ["This password is too short. It must contain at least 8 characters.", "This password is too common.", "This password is entirely numeric."]}`},
		{Name: "password equal to username, common", URL: "/api/auth/register/", Body: register("password", "p@example.com", "password", "password"), Status: 400,
			JSON: `{"password": ["The password is too similar to the username.", "This password is too common."]}`},
		{Name: "password similar to the email", URL: "/api/auth/register/", Body: register("zed", "margarethe@example.com", "Margarethe!", "Margarethe!"), Status: 400,
			JSON: `{"password": ["The password is too similar to the email address."]}`},
		{Name: "entirely numeric", URL: "/api/auth/register/", Body: register("numeric", "n@example.com", "8203746152", "8203746152"), Status: 400,
			JSON: `{"password": ["This password is entirely numeric."]}`},
		{Name: "duplicate email (difference 4)", URL: "/api/auth/register/", Body: register("alice_twin", "alice@example.com", pw, pw), Status: 400,
			JSON: `{"email": ["user with this email address already exists."]}`},
		{Name: "duplicate email in other case", URL: "/api/auth/register/", Body: register("alice_twin", "ALICE@Example.COM", pw, pw), Status: 400,
			JSON: `{"email": ["user with this email address already exists."]}`},
		{Name: "invalid email", URL: "/api/auth/register/", Body: register("dave", "not-an-email", pw, pw), Status: 400,
			JSON: `{"email": ["Enter a valid email address."]}`},
		{Name: "empty email string is refused (difference 4)", URL: "/api/auth/register/", Body: register("noemail", "", pw, pw), Status: 400,
			JSON: `{"email": ["This field may not be blank."]}`},
		{Name: "email key missing is a 400, not a 500", URL: "/api/auth/register/", Body: map[string]string{"username": "eve", "password": pw, "password2": pw}, Status: 400,
			JSON: `{"email": ["This field is required."]}`, NoOpenAPI: true},
		{Name: "empty body", URL: "/api/auth/register/", Body: map[string]string{}, Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["This field is required."], "email": ["This field is required."], "password": ["This field is required."], "password2": ["This field is required."]}`},
		{Name: "bad username characters", URL: "/api/auth/register/", Body: register("bad user!", "x@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
		{Name: "username 151 chars", URL: "/api/auth/register/", Body: register(long, "x@example.com", pw, pw), Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["Ensure this field has no more than 150 characters."]}`},
		{Name: "username 151 chars with bad characters: both messages", URL: "/api/auth/register/", Body: register(long+"!", "x@example.com", pw, pw), Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["Ensure this field has no more than 150 characters.", "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
		{Name: "blank password strings", URL: "/api/auth/register/", Body: register("blankpw", "x@example.com", "", ""), Status: 400, NoOpenAPI: true,
			JSON: `{"password": ["This field may not be blank."], "password2": ["This field may not be blank."]}`},
		{Name: "all fields wrong at once", URL: "/api/auth/register/", Body: map[string]any{"username": "", "email": "nope", "password": nil, "password2": ""}, Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["This field may not be blank."], "email": ["Enter a valid email address."], "password": ["This field may not be null."], "password2": ["This field may not be blank."]}`},
		{Name: "malformed JSON", URL: "/api/auth/register/", Body: `{"username": `, Status: 400, Prefix: `{"detail":"JSON parse error - `, NoOpenAPI: true},
		{Name: "not an object", URL: "/api/auth/register/", Body: `["alice"]`, Status: 400, NoOpenAPI: true,
			JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}`},
		{Name: "GET not allowed", Method: http.MethodGet, URL: "/api/auth/register/", Status: 405, JSON: `{"detail": "Method \"GET\" not allowed."}`, NoOpenAPI: true},
		{Name: "username differing only in case is taken (difference 4)", URL: "/api/auth/register/", Body: register("Alice", "A@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["A user with that username already exists."]}`},
		{Name: "surrounding whitespace of the username is trimmed", URL: "/api/auth/register/", Body: register(" alice ", "x@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["A user with that username already exists."]}`},
		{Name: "passwords are not trimmed (difference 3)", URL: "/api/auth/register/", Body: register("spacey", "s@example.com", "  spaced pw  ", "spaced pw"), Status: 400,
			JSON: `{"password": ["Password fields didn't match."]}`},
		{Name: "password with surrounding spaces kept", URL: "/api/auth/register/", Body: register("spacey", "s@example.com", "  spaced pw  ", "  spaced pw  "), Status: 201},
		{Name: "extra fields (is_staff, is_superuser) ignored", URL: "/api/auth/register/", Status: 201,
			Body: map[string]any{"username": "mallory", "email": "m@example.com", "password": pw, "password2": pw, "is_staff": true, "is_superuser": true, "id": 99}, NoOpenAPI: true,
			Check: func(t *testing.T, r *apitest.Response) {
				if strings.Contains(string(r.Body), `"id":99`) {
					t.Fatalf("client-supplied id must be ignored: %s", r.Body)
				}
			}},
		{Name: "without the trailing slash", URL: "/api/auth/register", Body: register("noslash", "noslash@example.com", pw, pw), Status: 201},
		{Name: "unicode username", URL: "/api/auth/register/", Body: register("Zoë.Ünal+1", "zoe@example.com", pw, pw), Status: 201},
		{Name: "fullwidth look-alike of a username is the same account (NFKC)", URL: "/api/auth/register/", Body: register("ａｌｉｃｅ", "fw@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["A user with that username already exists."]}`},
		{Name: "the email's domain is lower-cased", URL: "/api/auth/register/", Body: register("upper", "Upper.Case@EXAMPLE.ORG", pw, pw), Status: 201,
			Check: func(t *testing.T, r *apitest.Response) {
				if !strings.Contains(string(r.Body), `"email":"Upper.Case@example.org"`) {
					t.Fatalf("email not normalised: %s", r.Body)
				}
			}},
		{Name: "null character in the username", URL: "/api/auth/register/", Body: register("nul\x00l", "nul@example.com", pw, pw), Status: 400,
			JSON: `{"username": ["Null characters are not allowed."]}`},
	})
}

func TestAuthRegistrationClosed(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Auth.Registration = "closed" })
	runAuth(t, e, []authCase{
		{Name: "closed", URL: "/api/auth/register/", Body: register("alice", "alice@example.com", pw, pw), Status: 403,
			JSON: `{"detail": "Registration is closed. Ask an administrator for an account."}`},
	})
}

func TestAuthLogin(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	aliceID := e.Register(t, "alice")
	e.Register(t, "bob")
	e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/auth/register/", Body: register("spacey", "s@example.com", "  spaced pw  ", "  spaced pw  ")})
	e.Register(t, "dora")
	e.MustExec(`UPDATE users SET is_active = false WHERE username = 'dora'`)
	e.Register(t, "mangled")
	e.MustExec(`UPDATE users SET password_hash = 'pbkdf2_sha256$600000$x$y' WHERE username = 'mangled'`)

	claimsOK := func(t *testing.T, r *apitest.Response) {
		access, refresh := tokensOf(t, r)
		for _, tc := range []struct {
			tok, typ string
			ttl      float64
		}{{access, "access", 300}, {refresh, "refresh", 86400}} {
			c := tokenClaims(t, tc.tok)
			if c["token_type"] != tc.typ || c["user_id"] != itoaID(aliceID) || c["iss"] != "healthcare" {
				t.Errorf("%s claims %v", tc.typ, c)
			}
			if c["exp"].(float64)-c["iat"].(float64) != tc.ttl {
				t.Errorf("%s lifetime %v, want %v", tc.typ, c["exp"].(float64)-c["iat"].(float64), tc.ttl)
			}
			if jti, _ := c["jti"].(string); len(jti) != 32 {
				t.Errorf("%s jti %q", tc.typ, c["jti"])
			}
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != "healthcare-api" {
				t.Errorf("%s aud %v", tc.typ, c["aud"])
			}
			hdr := strings.Split(tc.tok, ".")[0]
			if hdr != "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" { // {"alg":"HS256","typ":"JWT"}
				t.Errorf("%s header %s", tc.typ, hdr)
			}
		}
		if r := e.Get("/api/auth/me/", access); r.Status != 200 {
			t.Errorf("the new access token is refused: %d %s", r.Status, r.Body)
		}
	}
	runAuth(t, e, []authCase{
		{Name: "good credentials", URL: "/api/auth/login/", Body: map[string]string{"username": "alice", "password": pw}, Status: 200,
			Keys: []string{"refresh", "access"}, Check: claimsOK},
		{Name: "bob", URL: "/api/auth/login/", Body: map[string]string{"username": "bob", "password": pw}, Status: 200, Keys: []string{"refresh", "access"}},
		{Name: "without the trailing slash", URL: "/api/auth/login", Body: map[string]string{"username": "bob", "password": pw}, Status: 200, Keys: []string{"refresh", "access"}},
		{Name: "wrong password", URL: "/api/auth/login/", Body: map[string]string{"username": "alice", "password": "nope"}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "unknown user", URL: "/api/auth/login/", Body: map[string]string{"username": "nobody", "password": "nope"}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "inactive user with the right password", URL: "/api/auth/login/", Body: map[string]string{"username": "dora", "password": pw}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "an unreadable stored hash is a 401, not a 500", URL: "/api/auth/login/", Body: map[string]string{"username": "mangled", "password": pw}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "missing fields", URL: "/api/auth/login/", Body: map[string]string{}, Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["This field is required."], "password": ["This field is required."]}`},
		{Name: "blank fields", URL: "/api/auth/login/", Body: map[string]string{"username": " ", "password": ""}, Status: 400, NoOpenAPI: true,
			JSON: `{"username": ["This field may not be blank."], "password": ["This field may not be blank."]}`},
		{Name: "login by email is not supported", URL: "/api/auth/login/", Body: map[string]string{"username": "alice@example.com", "password": pw}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "GET not allowed", Method: http.MethodGet, URL: "/api/auth/login/", Status: 405, JSON: `{"detail": "Method \"GET\" not allowed."}`, NoOpenAPI: true},
		{Name: "the password is not trimmed (difference 3)", URL: "/api/auth/login/", Body: map[string]string{"username": "spacey", "password": "spaced pw"}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "spacey logs in with the exact password", URL: "/api/auth/login/", Body: map[string]string{"username": "spacey", "password": "  spaced pw  "}, Status: 200},
		{Name: "the username is trimmed", URL: "/api/auth/login/", Body: map[string]string{"username": " alice ", "password": pw}, Status: 200},
		{Name: "username is case-sensitive ('ALICE')", URL: "/api/auth/login/", Body: map[string]string{"username": "ALICE", "password": pw}, Status: 401, JSON: bodyBadLogin, Challenge: true},
		{Name: "a fullwidth spelling of the username (NFKC)", URL: "/api/auth/login/", Body: map[string]string{"username": "ａｌｉｃｅ", "password": pw}, Status: 200},
		{Name: "malformed JSON", URL: "/api/auth/login/", Body: `{"username": "alice", `, Status: 400, Prefix: `{"detail":"JSON parse error - `, NoOpenAPI: true},
	})
}

// TestAuthRehashOnLogin: hashes made with an older cost verify and are upgraded at login.
func TestAuthRehashOnLogin(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	id := e.Register(t, "alice")
	old := "$argon2id$v=19$m=8192,t=1,p=1$"
	u, _ := e.Store().UserByID(t.Context(), id)
	if !strings.HasPrefix(u.PasswordHash, old) {
		t.Fatalf("hash %q", u.PasswordHash)
	}
	// A restart with a higher cost: a second service on the same database.
	cfg := *e.Config
	cfg.Auth.Argon2Iterations = 2
	svc, err := auth.New(&cfg, e.Store(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(t.Context(), "alice", pw, auth.Client{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	u, _ = e.Store().UserByID(t.Context(), id)
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=8192,t=2,p=1$") {
		t.Fatalf("hash not upgraded: %q", u.PasswordHash)
	}
	if r := e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": pw}); r.Status != 200 {
		t.Fatalf("login after the upgrade: %d %s", r.Status, r.Body)
	}
}

func TestAuthRefresh(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	aliceID := e.Register(t, "alice")
	access, refresh := e.Login("alice")
	_, refresh2 := e.Login("alice") // a second, independent login
	e.Register(t, "dora")
	_, doraRefresh := e.Login("dora")
	e.MustExec(`UPDATE users SET is_active = false WHERE username = 'dora'`)
	edID := e.Register(t, "ed")
	_, edRefresh := e.Login("ed")
	e.MustExec(`DELETE FROM users WHERE id = $1`, edID)

	secret := e.Config.Auth.JWTSecret
	expired := forge(t, secret, goodClaims(e, aliceID, "refresh", time.Now().Add(-time.Minute)))
	var rotated, rotated2 string
	runAuth(t, e, []authCase{
		{Name: "good: a new pair, the old token retired", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 200,
			Keys: []string{"access", "refresh"}, Check: func(t *testing.T, r *apitest.Response) {
				a, rf := tokensOf(t, r)
				if rf == refresh || a == access {
					t.Fatal("rotation must issue new tokens")
				}
				if tokenClaims(t, rf)["family"] != tokenClaims(t, refresh)["family"] {
					t.Fatal("the new refresh token belongs to the same login")
				}
				rotated = rf
			}},
		{Name: "the rotated token works once", URL: "/api/auth/login/refresh", Body: map[string]any{"refresh": &rotated}, Status: 200,
			Check: func(t *testing.T, r *apitest.Response) { _, rotated2 = tokensOf(t, r) }},
		{Name: "a retired token is refused (difference 6)", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 401,
			JSON: bodyRefreshRefused("Token is blacklisted"), Challenge: true},
		{Name: "...and its whole login is revoked", URL: "/api/auth/login/refresh/", Body: map[string]any{"refresh": &rotated2}, Status: 401,
			JSON: bodyRefreshRefused("Token is blacklisted"), Challenge: true},
		{Name: "...access tokens of the revoked login included", Method: http.MethodGet, URL: "/api/auth/me/", Token: access, Status: 401,
			JSON: bodyAccessRefused("Token is blacklisted"), Challenge: true},
		{Name: "another login is unaffected", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh2}, Status: 200},
		{Name: "garbage", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": "garbage"}, Status: 401, JSON: bodyRefreshRefused("Token is invalid"), Challenge: true},
		{Name: "an access token instead of refresh", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": access}, Status: 401,
			JSON: bodyRefreshRefused("Token has wrong type"), Challenge: true},
		{Name: "missing field", URL: "/api/auth/login/refresh/", Body: map[string]string{}, Status: 400, JSON: `{"refresh": ["This field is required."]}`, NoOpenAPI: true},
		{Name: "expired refresh token", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": expired}, Status: 401,
			JSON: bodyRefreshRefused("Token is expired"), Challenge: true},
		{Name: "the original's recorded refresh token", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": originalRefresh}, Status: 401,
			JSON: bodyRefreshRefused("Token is invalid"), Challenge: true},
		{Name: "forged with the original's SECRET_KEY", URL: "/api/auth/login/refresh/", Status: 401, JSON: bodyRefreshRefused("Token is invalid"), Challenge: true,
			Body: map[string]string{"refresh": forge(t, originalSecretKey, goodClaims(e, aliceID, "refresh", time.Now().Add(time.Hour)))}},
		{Name: "validly signed refresh token without a login", URL: "/api/auth/login/refresh/", Status: 401, JSON: bodyRefreshRefused("Token is invalid"), Challenge: true,
			Body: map[string]string{"refresh": forge(t, secret, goodClaims(e, aliceID, "refresh", time.Now().Add(time.Hour)))}},
		{Name: "tampered payload (another user)", URL: "/api/auth/login/refresh/", Status: 401, JSON: bodyRefreshRefused("Token is invalid"), Challenge: true,
			Body: map[string]string{"refresh": tamper(t, refresh2, func(c map[string]any) { c["user_id"] = itoaID(edID) })}},
		{Name: "inactive user", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": doraRefresh}, Status: 401, Challenge: true,
			JSON: `{"detail": "No active account found for the given token.", "code": "no_active_account"}`},
		{Name: "deleted user is a 401, not a 500", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": edRefresh}, Status: 401, Challenge: true,
			JSON: `{"detail": "No active account found for the given token.", "code": "no_active_account"}`},
	})
}

// TestAuthRotationOff: auth.rotate_refresh_tokens: false is the original's behaviour for old clients.
func TestAuthRotationOff(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Auth.RotateRefreshTokens = false })
	e.Register(t, "alice")
	_, refresh := e.Login("alice")
	runAuth(t, e, []authCase{
		{Name: "good: access only", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 200, Keys: []string{"access"}},
		{Name: "same refresh token again still works", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 200, Keys: []string{"access"}},
		{Name: "logout", URL: "/api/auth/logout/", Body: map[string]string{"refresh": refresh}, Status: 204},
		{Name: "a logged-out token is refused", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 401,
			JSON: bodyRefreshRefused("Token is blacklisted"), Challenge: true},
	})
}

func TestAuthLogout(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	access, refresh := e.Login("alice")
	otherAccess, other := e.Login("alice")
	me := func(name, token string, status int, body string) authCase {
		return authCase{Name: name, Method: http.MethodGet, URL: "/api/auth/me/", Token: token, Status: status, JSON: body, Challenge: status == 401}
	}
	runAuth(t, e, []authCase{
		me("the access token works before", access, 200, ""),
		{Name: "logout", URL: "/api/auth/logout/", Body: map[string]string{"refresh": refresh}, Status: 204,
			Check: func(t *testing.T, r *apitest.Response) {
				if len(r.Body) != 0 {
					t.Fatalf("204 with a body: %q", r.Body)
				}
			}},
		{Name: "the login's refresh token is dead", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": refresh}, Status: 401,
			JSON: bodyRefreshRefused("Token is blacklisted"), Challenge: true},
		me("...and so is its access token, at once", access, 401, bodyAccessRefused("Token is blacklisted")),
		me("the other login's access token still works", otherAccess, 200, ""),
		{Name: "logging out twice is harmless", URL: "/api/auth/logout", Body: map[string]string{"refresh": refresh}, Status: 204},
		{Name: "the other login lives on", URL: "/api/auth/login/refresh/", Body: map[string]string{"refresh": other}, Status: 200},
		{Name: "garbage", URL: "/api/auth/logout/", Body: map[string]string{"refresh": "garbage"}, Status: 401, JSON: bodyRefreshRefused("Token is invalid"), Challenge: true},
		{Name: "an access token", URL: "/api/auth/logout/", Body: map[string]string{"refresh": access}, Status: 401, JSON: bodyRefreshRefused("Token has wrong type"), Challenge: true},
		{Name: "missing field", URL: "/api/auth/logout/", Body: map[string]string{}, Status: 400, JSON: `{"refresh": ["This field is required."]}`, NoOpenAPI: true},
		{Name: "GET not allowed", Method: http.MethodGet, URL: "/api/auth/logout/", Status: 405, JSON: `{"detail": "Method \"GET\" not allowed."}`, NoOpenAPI: true},
	})
}

// TestAuthProtected covers the transcripts' "Unauthenticated / bad tokens" section on /api/auth/me/.
func TestAuthProtected(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	aliceID := e.Register(t, "alice")
	bobID := e.Register(t, "bob")
	access, refresh := e.Login("alice")
	doraTok := e.User("dora")
	e.MustExec(`UPDATE users SET is_active = false WHERE username = 'dora'`)
	edTok := e.User("ed")
	e.MustExec(`DELETE FROM users WHERE username = 'ed'`)

	secret := e.Config.Auth.JWTSecret
	// Within auth.access_token_ttl of goodClaims' iat: a longer lifetime is refused by itself.
	live := time.Now().Add(2 * time.Minute)
	otherIss := goodClaims(e, aliceID, "access", live)
	otherIss["iss"] = "someone-else"
	otherAud := goodClaims(e, aliceID, "access", live)
	otherAud["aud"] = "another-api"
	noExp := goodClaims(e, aliceID, "access", live)
	delete(noExp, "exp")
	intUserID := goodClaims(e, aliceID, "access", live)
	intUserID["user_id"] = aliceID
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, goodClaims(e, aliceID, "access", live)).SignedString([]byte(secret))

	refused := func(name, tok, msg string) authCase {
		return authCase{Name: name, Method: http.MethodGet, URL: "/api/auth/me/", Token: tok, Status: 401, JSON: bodyAccessRefused(msg), Challenge: true}
	}
	get := func(name string, hdr map[string]string, status int, body string) authCase {
		return authCase{Name: name, Method: http.MethodGet, URL: "/api/auth/me/", Header: hdr, Status: status, JSON: body, Challenge: status == 401}
	}
	runAuth(t, e, []authCase{
		{Name: "valid token", Method: http.MethodGet, URL: "/api/auth/me/", Token: access, Status: 200,
			Prefix: `{"id":1,"username":"alice","email":"alice@example.com","date_joined":"`,
			Keys:   []string{"id", "username", "email", "date_joined", "role", "must_change_password", "policies", "idle_timeout"}},
		{Name: "without the trailing slash", Method: http.MethodGet, URL: "/api/auth/me", Token: access, Status: 200},
		get("no Authorization header", nil, 401, bodyNotProvided),
		get("'Token' scheme instead of Bearer", map[string]string{"Authorization": "Token " + access}, 401, bodyNotProvided),
		get("lower-case bearer", map[string]string{"Authorization": "bearer " + access}, 401, bodyNotProvided),
		get("Basic credentials", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, 401, bodyNotProvided),
		get("Bearer without a token", map[string]string{"Authorization": "Bearer"}, 401,
			`{"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}`),
		get("Bearer with two tokens", map[string]string{"Authorization": "Bearer " + access + " " + access}, 401,
			`{"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}`),
		get("extra spaces are fine", map[string]string{"Authorization": "Bearer   " + access}, 200, ""),
		get("a tab and a trailing space are whitespace", map[string]string{"Authorization": "Bearer\t" + access + " "}, 200, ""),
		// simplejwt splits the header's bytes at ASCII whitespace only.
		get("a no-break space is not a separator", map[string]string{"Authorization": "Bearer\u00a0" + access}, 401, bodyNotProvided),
		refused("garbage bearer token", "garbage", "Token is invalid"),
		refused("expired access token", forge(t, secret, goodClaims(e, aliceID, "access", time.Now().Add(-time.Minute))), "Token is expired"),
		refused("the original's recorded access token", originalAccess, "Token is invalid"),
		refused("refresh token used as bearer", refresh, "Token has wrong type"),
		refused("signed with another key", forge(t, "another-key-0123456789abcdef0123456789abcdef", goodClaims(e, aliceID, "access", live)), "Token is invalid"),
		refused("FORGED with the original's public SECRET_KEY", forge(t, originalSecretKey, goodClaims(e, bobID, "access", live)), "Token is invalid"),
		refused("alg none", algNone(goodClaims(e, aliceID, "access", live)), "Token is invalid"),
		refused("HS512 with the right key (algorithm pinned)", hs512, "Token is invalid"),
		refused("tampered payload (user_id of bob)", tamper(t, access, func(c map[string]any) { c["user_id"] = itoaID(bobID) }), "Token is invalid"),
		refused("tampered payload (longer life)", tamper(t, access, func(c map[string]any) { c["exp"] = live.Add(24 * time.Hour).Unix() }), "Token is invalid"),
		refused("swapped type in the payload", tamper(t, refresh, func(c map[string]any) { c["token_type"] = "access" }), "Token is invalid"),
		refused("another issuer", forge(t, secret, otherIss), "Token is invalid"),
		refused("another audience", forge(t, secret, otherAud), "Token is invalid"),
		refused("no exp", forge(t, secret, noExp), "Token is invalid"),
		refused("validly signed access token without a login", forge(t, secret, goodClaims(e, aliceID, "access", live)), "Token is invalid"),
		{Name: "a token for a user that does not exist", Method: http.MethodGet, URL: "/api/auth/me/", Token: forge(t, secret, goodClaims(e, 9999, "access", live)),
			Status: 401, JSON: `{"detail": "User not found", "code": "user_not_found"}`, Challenge: true},
		{Name: "a deleted user's token is a 401, not a 500", Method: http.MethodGet, URL: "/api/auth/me/", Token: edTok,
			Status: 401, JSON: `{"detail": "User not found", "code": "user_not_found"}`, Challenge: true},
		{Name: "a deactivated user's token", Method: http.MethodGet, URL: "/api/auth/me/", Token: doraTok,
			Status: 401, JSON: `{"detail": "No active account found for the given token.", "code": "no_active_account"}`, Challenge: true},
		refused("user_id as a number (simplejwt < 5.5; we issue strings)", forge(t, secret, intUserID), "Token is invalid"),
		{Name: "POST not allowed", URL: "/api/auth/me/", Token: access, Status: 405, JSON: `{"detail": "Method \"POST\" not allowed."}`, NoOpenAPI: true},
	})
}
