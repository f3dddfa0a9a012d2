package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/store"
)

// wwwAuthenticate is the challenge of every 401 (simplejwt's JWTAuthentication header).
var wwwAuthenticate = map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="api"`}

// Messages of the authentication middleware (DRF's and simplejwt's).
const (
	msgNotAuthenticated = "Authentication credentials were not provided."
	msgTokenNotValid    = "Given token not valid for any token type"
)

// authenticate checks the request's "Authorization: Bearer <access token>" and stores the caller's
// session in Locals (localSession). mount runs it first on every protected view. It costs one
// signature check and one primary-key query (the user must still exist and be active, the login
// live; the stored clinic policies come with it, and read's answer when read is not nil).
func (a *API) authenticate(c *fiber.Ctx, read func(userID int64) store.SessionRead) error {
	raw, err := bearerToken(c)
	if err != nil {
		return err
	}
	sess, err := a.Auth.Authenticate(c.UserContext(), raw, read)
	if err != nil {
		var te *auth.TokenError
		if errors.As(err, &te) && te.Message != "" {
			return &Error{Status: fiber.StatusUnauthorized, Header: wwwAuthenticate, Body: tokenNotValidBody{
				Detail: msgTokenNotValid, Code: te.Code,
				Messages: []tokenMessage{{TokenClass: "AccessToken", TokenType: "access", Message: te.Message}},
			}}
		}
		return authError(err)
	}
	c.Locals(localSession, sess)
	return nil
}

// bearerToken is the token of the request's "Authorization: Bearer <token>" header, or the 401
// simplejwt answers for a missing or malformed header.
func bearerToken(c *fiber.Ctx) (string, error) {
	token, bearer, ok := parseBearer(c.Get(fiber.HeaderAuthorization))
	if !bearer {
		return "", &Error{Status: fiber.StatusUnauthorized, Body: map[string]string{"detail": msgNotAuthenticated}, Header: wwwAuthenticate}
	}
	if !ok {
		return "", unauthorized(auth.MsgBadHeader, auth.CodeBadHeader)
	}
	return token, nil
}

// parseBearer splits an Authorization header into words as simplejwt does (Python's bytes.split():
// any run of ASCII whitespace separates; U+00A0 and other Unicode spaces do not): bearer when the
// first word is "Bearer", ok when a token is the only other word.
func parseBearer(h string) (token string, bearer, ok bool) {
	// The usual header, "Bearer " and a token of printable ASCII, needs no splitting into words
	// (which cost 3 % of the server's CPU under GET one patient).
	if rest, found := strings.CutPrefix(h, "Bearer "); found && printableWord(rest) {
		return rest, true, true
	}
	parts := strings.FieldsFunc(h, asciiSpace)
	if len(parts) == 0 || parts[0] != "Bearer" {
		return "", false, false
	}
	if len(parts) != 2 {
		return "", true, false
	}
	return parts[1], true, true
}

// asciiSpace is Python's bytes.isspace(): space, \t, \n, \v, \f, \r.
func asciiSpace(r rune) bool { return r == ' ' || (r >= '\t' && r <= '\r') }

// printableWord reports whether s is one word of printable ASCII (no space, no control character).
func printableWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// Messages of the permission checks (DRF's PermissionDenied, and ours).
const (
	msgPermissionDenied    = "You do not have permission to perform this action."
	msgMustChangePassword  = "An administrator set your password: choose your own with POST /api/auth/password/ before you continue."
	codeMustChangePassword = "password_change_required"
)

// authorize is the check right after authentication: the view's role (403 for anyone else), and
// an account whose password an administrator set may only reach the views that let it choose its
// own (403 with code password_change_required).
func authorize(c *fiber.Ctx, v *view) error {
	u := currentUser(c)
	if v.Role == store.RoleAdmin && !u.Admin() {
		return Detail(fiber.StatusForbidden, msgPermissionDenied)
	}
	if u.MustChangePassword && !v.PasswordPending {
		return &Error{Status: fiber.StatusForbidden, Body: codeBody{Detail: msgMustChangePassword, Code: codeMustChangePassword}}
	}
	return nil
}

// forbidden is DRF's 403 for an action the caller's role or the clinic's policy does not allow.
func forbidden() *Error { return Detail(fiber.StatusForbidden, msgPermissionDenied) }

// tokenNotValidBody is simplejwt's InvalidToken body for the access-token authenticator.
type tokenNotValidBody struct {
	Detail   string         `json:"detail"`
	Code     string         `json:"code"`
	Messages []tokenMessage `json:"messages"`
}

type tokenMessage struct {
	TokenClass string `json:"token_class"`
	TokenType  string `json:"token_type"`
	Message    string `json:"message"`
}

// codeBody is simplejwt's {"detail", "code"} body.
type codeBody struct {
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

func unauthorized(detail, code string) *Error {
	return &Error{Status: fiber.StatusUnauthorized, Body: codeBody{Detail: detail, Code: code}, Header: wwwAuthenticate}
}

// authError maps the auth package's errors to responses: token problems are 401 {"detail",
// "code"} (the refresh endpoint's shape), rate limits 429 with Retry-After, bad credentials 401.
// Anything else is unexpected and becomes the generic 500.
func authError(err error) error {
	var te *auth.TokenError
	var th *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		if te.Message != "" {
			return unauthorized(te.Message, te.Code)
		}
		return unauthorized(te.Detail, te.Code)
	case errors.As(err, &th):
		return throttled(th)
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &Error{Status: fiber.StatusUnauthorized, Header: wwwAuthenticate,
			Body: map[string]string{"detail": "No active account found with the given credentials"}}
	}
	return err
}

// throttled is DRF's 429: "Request was throttled. Expected available in N seconds." + Retry-After.
func throttled(th *auth.ThrottledError) *Error {
	wait := max(1, int(math.Ceil(th.Wait.Seconds())))
	unit := "seconds"
	if wait == 1 {
		unit = "second"
	}
	return &Error{
		Status: fiber.StatusTooManyRequests,
		Body:   map[string]string{"detail": fmt.Sprintf("Request was throttled. Expected available in %d %s.", wait, unit)},
		Header: map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(wait)},
	}
}
