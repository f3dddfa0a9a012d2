// Package auth holds password hashing and policy, tokens, refresh-token families and rate limits.
// It knows nothing of HTTP: the api package turns its errors into DRF-shaped responses.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"healthcare/app/config"
	"healthcare/app/store"
)

// Service is the authentication service the API uses. It is safe for concurrent use.
type Service struct {
	cfg    *config.Config
	st     *store.Store
	log    *slog.Logger
	secret []byte
	params Params // argon2id cost for new hashes
	dummy  string // hash verified for unknown usernames, so they cost as much as a wrong password
	// hashing bounds concurrent argon2id runs: each takes Params.MemoryKiB, and a burst of logins
	// must queue rather than exhaust memory.
	hashing chan struct{}
	now     func() time.Time
}

// New builds the service: it loads or creates the signing secret and prepares the dummy hash.
// When cfg.Auth.JWTSecret is empty a random 256-bit secret is kept in <cfg.DataDir>/jwt-secret.
func New(cfg *config.Config, st *store.Store, log *slog.Logger) (*Service, error) {
	secret, err := loadSecret(cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		st:      st,
		log:     log,
		secret:  secret,
		params:  Params{MemoryKiB: cfg.Auth.Argon2MemoryKiB, Iterations: cfg.Auth.Argon2Iterations, Parallelism: cfg.Auth.Argon2Parallelism},
		hashing: make(chan struct{}, max(2, runtime.NumCPU())),
		now:     time.Now,
	}
	if s.dummy, err = s.dummyHash(); err != nil {
		return nil, fmt.Errorf("prepare password hashing: %w", err)
	}
	return s, nil
}

// ErrInvalidCredentials is a failed login: unknown username, wrong password or inactive account.
var ErrInvalidCredentials = errors.New("no active account found with the given credentials")

// Token error codes, as simplejwt names them.
const (
	CodeTokenNotValid   = "token_not_valid"
	CodeUserNotFound    = "user_not_found"
	CodeNoActiveAccount = "no_active_account"
	CodeBadHeader       = "bad_authorization_header"
)

// simplejwt 5.5's messages.
const (
	MsgTokenInvalid   = "Token is invalid"
	MsgTokenExpired   = "Token is expired"
	MsgTokenWrongType = "Token has wrong type"
	MsgTokenNoType    = "Token has no type"
	MsgTokenNoID      = "Token has no id"
	MsgTokenRevoked   = "Token is blacklisted"
	MsgNoUserClaim    = "Token contained no recognizable user identification"
	MsgUserNotFound   = "User not found"
	MsgNoActive       = "No active account found for the given token."
	MsgBadHeader      = "Authorization header must contain two space-delimited values"
)

// TokenError is a refused token. With Message set (a problem with the token itself) the access
// middleware answers simplejwt's "Given token not valid for any token type" with Message in
// "messages", and the refresh endpoint answers {"detail": Message, "code": Code}; otherwise the
// answer is {"detail": Detail, "code": Code}.
type TokenError struct {
	Code    string
	Detail  string
	Message string
}

func (e *TokenError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Detail
}

func tokenInvalid(msg string) *TokenError { return &TokenError{Code: CodeTokenNotValid, Message: msg} }

// ThrottledError is a request over a rate limit; Wait is the time until the window ends.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return fmt.Sprintf("rate limited for %s", e.Wait) }

// Pair is a login's tokens; Refresh is empty when a refresh without rotation returns only an access token.
type Pair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh,omitempty"`
}

// Login checks a username (exact, case-sensitive, as the original) and password and starts a new
// login (refresh-token family). Every failure is ErrInvalidCredentials and costs one hash.
func (s *Service) Login(ctx context.Context, username, password string) (Pair, error) {
	u, err := s.st.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Pair{}, err
	}
	if u == nil || u.Username != username {
		_, _ = s.VerifyPassword(s.dummy, password)
		return Pair{}, ErrInvalidCredentials
	}
	ok, err := s.verifyLogin(u.PasswordHash, password)
	if err != nil {
		// A hash we cannot read (edited by hand, another scheme) locks the account, not the server.
		s.log.Error("unreadable password hash: the account cannot log in until its password is reset", "user_id", u.ID, "error", err)
		return Pair{}, ErrInvalidCredentials
	}
	if !ok || !u.IsActive {
		return Pair{}, ErrInvalidCredentials
	}
	if s.NeedsRehash(u.PasswordHash) {
		// A failure here only postpones the upgrade to the next login.
		if h, err := s.HashPassword(password); err == nil {
			if err := s.st.SetPasswordHash(ctx, u.ID, h); err != nil {
				s.log.Warn("password rehash failed", "user_id", u.ID, "error", err)
			}
		}
	}
	return s.startFamily(ctx, u.ID)
}

// Authenticate verifies an access token and loads its user with one primary-key query, which also
// checks that the token's login is live: after a logout, or a reused refresh token revoked the
// login, its access tokens are refused at once instead of living out their few minutes.
func (s *Service) Authenticate(ctx context.Context, raw string) (*store.User, error) {
	c, terr := s.parse(raw, typeAccess)
	if terr != nil {
		return nil, terr
	}
	id, terr := c.userID()
	if terr != nil {
		return nil, terr
	}
	fam, hasFamily := c.family()
	u, live, err := s.st.UserSession(ctx, id, fam)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &TokenError{Code: CodeUserNotFound, Detail: MsgUserNotFound}
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !u.IsActive:
		return nil, &TokenError{Code: CodeNoActiveAccount, Detail: MsgNoActive}
	case !hasFamily:
		return nil, tokenInvalid(MsgTokenInvalid) // every access token we issue names its login
	case !live:
		return nil, tokenInvalid(MsgTokenRevoked)
	}
	return u, nil
}

// Refresh exchanges a refresh token for a new access token and, with rotation on, a new refresh
// token that replaces it. A retired token revokes its whole family.
func (s *Service) Refresh(ctx context.Context, raw string) (Pair, error) {
	c, u, err := s.refreshClaims(ctx, raw)
	if err != nil {
		return Pair{}, err
	}
	fam, _ := c.family()
	if !s.cfg.Auth.RotateRefreshTokens {
		if err := s.st.CheckFamily(ctx, fam, u.ID, hashToken(raw)); err != nil {
			return Pair{}, familyError(err)
		}
		access, err := s.sign(u.ID, typeAccess, fam.String(), s.cfg.Auth.AccessTokenTTL)
		return Pair{Access: access}, err
	}
	refresh, exp, err := s.signRefresh(u.ID, fam.String())
	if err != nil {
		return Pair{}, err
	}
	if err := s.st.RotateFamily(ctx, fam, u.ID, hashToken(raw), hashToken(refresh), exp); err != nil {
		if errors.Is(err, store.ErrFamilyRevoked) {
			s.log.Warn("refresh token reused: login revoked", "user_id", u.ID, "family", fam.String())
		}
		return Pair{}, familyError(err)
	}
	access, err := s.sign(u.ID, typeAccess, fam.String(), s.cfg.Auth.AccessTokenTTL)
	return Pair{Access: access, Refresh: refresh}, err
}

// Logout revokes the login (family) of a refresh token; the token must be valid as for Refresh.
func (s *Service) Logout(ctx context.Context, raw string) error {
	c, u, err := s.refreshClaims(ctx, raw)
	if err != nil {
		return err
	}
	fam, _ := c.family()
	return s.st.RevokeFamily(ctx, fam, u.ID)
}

// refreshClaims verifies a refresh token and that its user still exists and is active (simplejwt
// 5.5 answers no_active_account for both; the original crashed on a deleted user).
func (s *Service) refreshClaims(ctx context.Context, raw string) (*claims, *store.User, error) {
	c, terr := s.parse(raw, typeRefresh)
	if terr != nil {
		return nil, nil, terr
	}
	id, terr := c.userID()
	if terr != nil {
		return nil, nil, terr
	}
	if _, ok := c.family(); !ok {
		return nil, nil, tokenInvalid(MsgTokenInvalid)
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.IsActive) {
		return nil, nil, &TokenError{Code: CodeNoActiveAccount, Detail: MsgNoActive}
	}
	if err != nil {
		return nil, nil, err
	}
	return c, u, nil
}

func familyError(err error) error {
	if errors.Is(err, store.ErrFamilyRevoked) {
		return tokenInvalid(MsgTokenRevoked)
	}
	return err
}

// Throttle counts one request in bucket and returns a *ThrottledError once more than limit
// requests fell in the current window. It does nothing when rate limits are off.
func (s *Service) Throttle(ctx context.Context, bucket string, limit int, window time.Duration) error {
	if !s.cfg.RateLimit.Enabled {
		return nil
	}
	hits, left, err := s.st.Hit(ctx, bucket, window)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", bucket, err)
	}
	if hits > limit {
		return &ThrottledError{Wait: left}
	}
	return nil
}

// RegistrationOpen reports whether anyone may register.
func (s *Service) RegistrationOpen() bool { return s.cfg.Auth.Registration != "closed" }
