// Package auth holds password hashing and policy, tokens, refresh-token families and rate limits.
// It knows nothing of HTTP: the api package turns its errors into DRF-shaped responses.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

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
	waiting atomic.Int64 // hashes waiting for a slot (see withSlot)
	now     func() time.Time

	// verified remembers verified access tokens (see verifiedTokens); nil remembers none.
	verified *verifiedTokens
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
		hashing: make(chan struct{}, HashConcurrency()),
		now:     time.Now,
	}
	s.verified = &verifiedTokens{m: map[string]verifiedToken{}}
	if s.dummy, err = s.dummyHash(); err != nil {
		return nil, fmt.Errorf("prepare password hashing: %w", err)
	}
	return s, nil
}

// HashConcurrency is how many argon2id hashes run at once: one per two CPUs the Go runtime found
// at its first call (GOMAXPROCS: in a container, its CPU quota). A hash takes one CPU (see package
// argon2) and auth.argon2_memory_kib of memory, so logins together use at most half of the
// machine and a bounded amount of memory; more logins queue. Fixed at the first call, which is
// before serve adds the hashes' own scheduler slots to GOMAXPROCS.
var HashConcurrency = sync.OnceValue(func() int { return max(1, runtime.GOMAXPROCS(0)/2) })

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
	// Reused: a retired refresh token was presented again and its login revoked (for the audit trail).
	Reused bool
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

// Client is who is asking: the client address (rate limits, "my sessions") and its User-Agent.
type Client struct {
	Address   string
	UserAgent string
}

// AddressGroup is the unit that per-address limits count for a client address: an IPv4 address,
// or an IPv6 address's /64. One IPv6 host (or its network) can pick any address of its /64, so
// counting single addresses would give it billions of budgets. Anything else is itself.
func AddressGroup(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}

// Session is the caller of an authenticated request: the account, its login (refresh-token
// family), and the clinic policies administrators chose (the settings table), read together.
type Session struct {
	User     *store.User
	Family   uuid.UUID
	Settings map[string]string
	Read     store.ReadAnswer // the answer to the read Authenticate was asked to run with the check
}

// limits are the automatic logoff rules of the configuration.
func (s *Service) limits() store.SessionLimits {
	return store.SessionLimits{IdleTimeout: s.cfg.Auth.IdleTimeout, MaxAge: s.cfg.Auth.SessionMaxAge}
}

// Limits are the automatic logoff rules (idle timeout and absolute lifetime of a login).
func (s *Service) Limits() store.SessionLimits { return s.limits() }

// maxSlowdown bounds the delay of a login for a username attacked from many addresses.
const maxSlowdown = 10 * time.Second

// Login checks a username (exact, case-sensitive, as the original) and password and starts a new
// login (refresh-token family) for client. Every failure is ErrInvalidCredentials and costs one
// hash. Failed attempts are limited (rate_limit.*) per (username, client address) pair and per
// client address, then refused with *ThrottledError; across all addresses a username is only slowed
// down, so a stranger cannot lock a user out. A successful login takes its attempt back.
func (s *Service) Login(ctx context.Context, username, password string, client Client) (Pair, error) {
	undo, err := s.loginLimits(ctx, username, client)
	if err != nil {
		return Pair{}, err
	}
	u, err := s.st.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Pair{}, err
	}
	if u == nil || u.Username != username {
		if _, err := s.VerifyPassword(s.dummy, password); errors.Is(err, ErrBusy) {
			return Pair{}, err // as for an existing account: busy says nothing about the username
		}
		return Pair{}, ErrInvalidCredentials
	}
	ok, err := s.verifyLogin(u.PasswordHash, password)
	if errors.Is(err, ErrBusy) {
		return Pair{}, err
	}
	if err != nil {
		// A hash we cannot read (edited by hand, another scheme) locks the account, not the server.
		s.log.Error("unreadable password hash: the account cannot log in until its password is reset", "user_id", u.ID, "error", err)
		return Pair{}, ErrInvalidCredentials
	}
	if !ok || !u.IsActive {
		return Pair{}, ErrInvalidCredentials
	}
	undo()
	if s.NeedsRehash(u.PasswordHash) {
		// A failure here only postpones the upgrade to the next login.
		if h, err := s.HashPassword(password); err == nil {
			if err := s.st.SetPasswordHash(ctx, u.ID, h); err != nil {
				s.log.Warn("password rehash failed", "user_id", u.ID, "error", err)
			}
		}
	}
	return s.startFamily(ctx, u.ID, client)
}

// loginLimits counts a login attempt in its three buckets and refuses or slows it; undo takes the
// attempt back (the login succeeded).
func (s *Service) loginLimits(ctx context.Context, username string, client Client) (undo func(), err error) {
	rl := s.cfg.RateLimit
	if !rl.Enabled {
		return func() {}, nil
	}
	name := BucketName(username)
	var counted []string
	undo = func() {
		for _, b := range counted {
			if err := s.st.Unhit(context.WithoutCancel(ctx), b, rl.LoginWindow); err != nil {
				s.log.Warn("rate limit: cannot take back a successful login", "error", err)
			}
		}
	}
	hit := func(bucket string) (int, time.Duration, error) {
		n, left, err := s.st.Hit(ctx, bucket, rl.LoginWindow)
		if err != nil {
			return 0, 0, fmt.Errorf("rate limit %s: %w", bucket, err)
		}
		counted = append(counted, bucket)
		return n, left, nil
	}
	for _, b := range []struct {
		bucket string
		limit  int
	}{{"login:addr:" + AddressGroup(client.Address), rl.LoginPerAddress}, {"login:pair:" + name + ":" + AddressGroup(client.Address), rl.LoginPerUsername}} {
		n, left, err := hit(b.bucket)
		if err != nil {
			return nil, err
		}
		if n > b.limit {
			return nil, &ThrottledError{Wait: left}
		}
	}
	n, _, err := hit("login:user:" + name)
	if err != nil {
		return nil, err
	}
	if over := n - rl.LoginSlowUsername; over > 0 {
		wait := min(time.Duration(over)*time.Second, maxSlowdown)
		s.log.Warn("many failed logins for one username from several addresses: slowing its logins down", "wait", wait.String())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return undo, nil
}

// BucketName keys a username's rate limits by a digest: case-insensitive, bounded in size, and no
// usernames in the rate_limits table.
func BucketName(username string) string {
	h := sha256.Sum256([]byte(strings.ToLower(username)))
	return hex.EncodeToString(h[:16])
}

// Authenticate verifies an access token and loads its account, the liveness of its login and the
// stored clinic policies with one primary-key query: after a logout, a reused refresh token, an
// ended login of the account (deactivation, password change...) or a timeout, its access tokens
// are refused at once instead of living out their few minutes. read, when not nil, names a read
// of patient data for the token's account that the same statement answers (Session.Read) when,
// and only when, the login is live and the account active: an authenticated read then takes one
// round trip.
func (s *Service) Authenticate(ctx context.Context, raw string, read func(userID int64) store.SessionRead) (*Session, error) {
	t, terr := s.accessToken(raw)
	if terr != nil {
		return nil, terr
	}
	fam, hasFamily := t.family, t.hasFamily
	var r store.SessionRead
	if read != nil && hasFamily {
		r = read(t.user)
	}
	c, err := s.st.UserSession(ctx, t.user, fam, s.limits(), r)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &TokenError{Code: CodeUserNotFound, Detail: MsgUserNotFound}
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !c.User.IsActive:
		return nil, &TokenError{Code: CodeNoActiveAccount, Detail: MsgNoActive}
	case !hasFamily:
		return nil, tokenInvalid(MsgTokenInvalid) // every access token we issue names its login
	case !c.Live:
		return nil, tokenInvalid(MsgTokenRevoked)
	}
	return &Session{User: c.User, Family: fam, Settings: c.Settings, Read: c.Read}, nil
}

// Refresh exchanges a refresh token for a new access token and, with rotation on, a new refresh
// token that replaces it. The token replaced last, presented again within auth.refresh_grace,
// gets the same new refresh token again (its answer was lost); any other retired token revokes
// the whole family. A login past the idle timeout or its lifetime is refused as expired.
func (s *Service) Refresh(ctx context.Context, raw string) (Pair, error) {
	c, u, err := s.refreshClaims(ctx, raw)
	if err != nil {
		return Pair{}, err
	}
	fam, _ := c.family()
	if !s.cfg.Auth.RotateRefreshTokens {
		if err := s.st.CheckFamily(ctx, fam, u.ID, hashToken(raw), s.limits()); err != nil {
			return Pair{}, familyError(err)
		}
		access, err := s.sign(u.ID, typeAccess, fam.String(), s.cfg.Auth.AccessTokenTTL)
		return Pair{Access: access}, err
	}
	refresh, next, err := s.newRefresh(u.ID, fam.String())
	if err != nil {
		return Pair{}, err
	}
	var replay *store.RefreshToken
	err = s.commit(ctx, u.ID, func(st *store.Store) (err error) {
		replay, err = st.RotateFamily(ctx, fam, u.ID, hashToken(raw), next, s.cfg.Auth.RefreshGrace, s.limits())
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrFamilyRevoked) {
			// A reuse revokes the family; inside commit's transaction that revocation was rolled
			// back with the error: revoke it again, on its own (a no-op when it already was), even
			// if the client has gone, and once more if the database hiccups.
			rctx := context.WithoutCancel(ctx)
			if err := s.st.RevokeFamily(rctx, fam, u.ID); err != nil {
				if err := s.st.RevokeFamily(rctx, fam, u.ID); err != nil {
					return Pair{}, err
				}
			}
			s.log.Warn("refresh token reused: login revoked", "user_id", u.ID, "family", fam.String())
			te := tokenInvalid(MsgTokenRevoked)
			te.Reused = true
			return Pair{}, te
		}
		return Pair{}, familyError(err)
	}
	if replay != nil {
		// The same successor again, signed from its stored claims; it must be the very token.
		if refresh, err = s.signRefresh(u.ID, fam.String(), *replay); err != nil {
			return Pair{}, err
		}
		if string(hashToken(refresh)) != string(replay.Hash) {
			s.log.Warn("refresh grace: the successor cannot be signed again (issuer, audience or secret changed)", "user_id", u.ID)
			return Pair{}, tokenInvalid(MsgTokenRevoked)
		}
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
	return s.commit(ctx, u.ID, func(st *store.Store) error { return st.RevokeFamily(ctx, fam, u.ID) })
}

// AuditFunc writes the audit row of the change an operation makes (a login started, rotated or
// ended, a password changed) with tx, the change's own transaction, so that the change never
// commits without its row. userID is the account the change is about.
type AuditFunc func(tx *store.Store, userID int64) error

type auditKey struct{}

// WithAudit returns ctx carrying f: the operations run with it write their change and f's row in
// one transaction.
func WithAudit(ctx context.Context, f AuditFunc) context.Context {
	return context.WithValue(ctx, auditKey{}, f)
}

// commit runs write, an operation's change, and the audit row ctx asks for in one transaction
// (without one, write alone).
func (s *Service) commit(ctx context.Context, userID int64, write func(st *store.Store) error) error {
	f, _ := ctx.Value(auditKey{}).(AuditFunc)
	if f == nil {
		return write(s.st)
	}
	return s.st.InTx(ctx, func(tx *store.Store) error {
		if err := write(tx); err != nil {
			return err
		}
		return f(tx, userID)
	})
}

// ErrWrongPassword: the current password given to change it is not the account's.
var ErrWrongPassword = errors.New("the current password is wrong")

// ChangePassword replaces the password of the session's account by newPassword (validated by the
// caller) after checking current, ends every login of the account, and starts a new one for
// client, whose tokens it returns. Wrong current passwords count like failed logins of the pair.
func (s *Service) ChangePassword(ctx context.Context, sess *Session, current, newPassword string, client Client) (Pair, error) {
	u := sess.User
	undo, err := s.loginLimits(ctx, u.Username, client)
	if err != nil {
		return Pair{}, err
	}
	// The session's User carries no password hash (see store.sessionUserColumns): read it now.
	cur, err := s.st.UserByID(ctx, u.ID)
	if err != nil {
		return Pair{}, err
	}
	ok, err := s.VerifyPassword(cur.PasswordHash, current)
	if err != nil || !ok {
		return Pair{}, ErrWrongPassword
	}
	undo()
	hash, err := s.HashPassword(newPassword)
	if err != nil {
		return Pair{}, err
	}
	var pair Pair
	err = s.commit(ctx, u.ID, func(st *store.Store) error {
		if err := st.SetOwnPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		pair, err = s.newFamily(ctx, st, u.ID, client)
		return err
	})
	if err != nil {
		return Pair{}, err
	}
	s.log.Info("password changed: every login of the account ended", "user_id", u.ID)
	return pair, nil
}

// RefreshUser is the user id a correctly signed refresh token names (0 for any other token), for
// the audit trail of refresh and logout; it does not check the login is live.
func (s *Service) RefreshUser(raw string) int64 {
	c, terr := s.parse(raw, typeRefresh)
	if terr != nil {
		return 0
	}
	id, terr := c.userID()
	if terr != nil {
		return 0
	}
	return id
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
	switch {
	case errors.Is(err, store.ErrFamilyRevoked):
		return tokenInvalid(MsgTokenRevoked)
	case errors.Is(err, store.ErrSessionExpired):
		return tokenInvalid(MsgTokenExpired)
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
