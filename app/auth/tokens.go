package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"healthcare/app/store"
)

const (
	typeAccess  = "access"
	typeRefresh = "refresh"
)

// claims are simplejwt's (token_type, exp, iat, jti, user_id as a string) plus iss, aud and the
// login (refresh-token family) the token belongs to, so ending a login ends its access tokens too.
type claims struct {
	TokenType string `json:"token_type"`
	UserID    string `json:"user_id"`
	Family    string `json:"family,omitempty"`
	jwt.RegisteredClaims
}

func (c *claims) userID() (int64, *TokenError) {
	id, err := strconv.ParseInt(c.UserID, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != c.UserID {
		return 0, &TokenError{Code: CodeTokenNotValid, Detail: MsgNoUserClaim}
	}
	return id, nil
}

func (c *claims) family() (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Family)
	return id, err == nil && c.Family == id.String()
}

// clockSkew tolerates replicas whose clocks differ slightly: iat is whole seconds, so without it a
// token issued on one replica could be "used before issued" on another a few milliseconds behind.
const clockSkew = 5 * time.Second

// parser pins HS256, requires exp, iat, iss and aud, and decodes base64url strictly (no padding,
// no stray bits: one token has one spelling). A token signed any other way, or for another issuer
// or audience, is invalid.
func (s *Service) parser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithIssuer(s.cfg.Auth.Issuer),
		jwt.WithAudience(s.cfg.Auth.Audience),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
}

// errBadHeader refuses headers this service never writes: a "crit" extension it cannot honour
// (RFC 7515 §4.1.11 says such a token must be rejected), a typ other than JWT.
var errBadHeader = errors.New("token header not accepted")

// key checks the header, then gives the HS256 secret.
func (s *Service) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errBadHeader
	}
	if typ, ok := t.Header["typ"].(string); !ok || typ != "JWT" {
		return nil, errBadHeader
	}
	return s.secret, nil
}

// maxLifetime is the longest exp - iat a token of type typ is issued with: its TTL, rounded up
// to whole seconds as the claims are.
func (s *Service) maxLifetime(typ string) time.Duration {
	ttl := s.cfg.Auth.AccessTokenTTL
	if typ == typeRefresh {
		ttl = s.cfg.Auth.RefreshTokenTTL
	}
	if r := ttl % time.Second; r != 0 {
		ttl += time.Second - r
	}
	return ttl
}

// parse verifies raw and checks its type, with simplejwt's messages. Beyond the signature it
// requires exp, iat, jti and token_type, and refuses a lifetime (exp - iat) longer than the
// configured TTL of its type: a token this service did not issue as it is configured now is not
// honoured, even if it was signed with its key.
func (s *Service) parse(raw, wantType string) (*claims, *TokenError) {
	c := &claims{}
	_, err := s.parser().ParseWithClaims(raw, c, s.key)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, tokenInvalid(MsgTokenExpired)
	case err != nil, c.IssuedAt == nil, c.ExpiresAt == nil:
		return nil, tokenInvalid(MsgTokenInvalid)
	case c.TokenType == "":
		return nil, tokenInvalid(MsgTokenNoType)
	case c.TokenType != wantType:
		return nil, tokenInvalid(MsgTokenWrongType)
	case c.ID == "":
		return nil, tokenInvalid(MsgTokenNoID)
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > s.maxLifetime(c.TokenType):
		return nil, tokenInvalid(MsgTokenInvalid)
	}
	return c, nil
}

// sign issues a token of type typ for userID, valid for ttl from now.
func (s *Service) sign(userID int64, typ, family string, ttl time.Duration) (string, error) {
	jti, err := newJTI()
	if err != nil {
		return "", err
	}
	now := s.now()
	return s.signClaims(userID, typ, family, jti, now, now.Add(ttl))
}

func newJTI() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// signClaims signs a token with exactly these claims: the same claims give the same token (HS256
// and the JSON encoding are deterministic), which lets the grace window hand out a successor again.
func (s *Service) signClaims(userID int64, typ, family, jti string, iat, exp time.Time) (string, error) {
	c := claims{
		TokenType: typ,
		UserID:    strconv.FormatInt(userID, 10),
		Family:    family,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Auth.Issuer,
			Audience:  jwt.ClaimStrings{s.cfg.Auth.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        jti,
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
}

// newRefresh issues a refresh token for the family and what the database keeps of it. Times are
// whole seconds, as in the token, so that the stored claims sign the same token again.
func (s *Service) newRefresh(userID int64, family string) (string, store.RefreshToken, error) {
	jti, err := newJTI()
	if err != nil {
		return "", store.RefreshToken{}, err
	}
	iat := s.now().Truncate(time.Second)
	rt := store.RefreshToken{JTI: jti, IssuedAt: iat, Expires: iat.Add(s.cfg.Auth.RefreshTokenTTL)}
	tok, err := s.signRefresh(userID, family, rt)
	rt.Hash = hashToken(tok)
	return tok, rt, err
}

// signRefresh signs the refresh token rt describes.
func (s *Service) signRefresh(userID int64, family string, rt store.RefreshToken) (string, error) {
	return s.signClaims(userID, typeRefresh, family, rt.JTI, rt.IssuedAt, rt.Expires)
}

// startFamily begins a login for client: a new family whose first refresh token is returned with
// an access token.
func (s *Service) startFamily(ctx context.Context, userID int64, client Client) (pair Pair, err error) {
	err = s.commit(ctx, userID, func(st *store.Store) (err error) {
		pair, err = s.newFamily(ctx, st, userID, client)
		return err
	})
	return pair, err
}

// newFamily starts a login for client with st (inside the caller's transaction when st is one).
func (s *Service) newFamily(ctx context.Context, st *store.Store, userID int64, client Client) (Pair, error) {
	fam := uuid.New()
	refresh, rt, err := s.newRefresh(userID, fam.String())
	if err != nil {
		return Pair{}, err
	}
	if err := st.CreateFamily(ctx, store.NewFamily{ID: fam, UserID: userID, Token: rt,
		Address: client.Address, UserAgent: store.ClipText(store.StorableText(client.UserAgent, ""), 512)}); err != nil {
		return Pair{}, err
	}
	access, err := s.sign(userID, typeAccess, fam.String(), s.cfg.Auth.AccessTokenTTL)
	return Pair{Access: access, Refresh: refresh}, err
}

// hashToken is what the database keeps of a refresh token: its SHA-256, never the token.
func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// verifiedTokens remembers access tokens whose signature and claims were verified, so a client
// sending the same token on every request costs a map lookup instead of an HMAC and a JSON parse
// (a sixth of a request's CPU). It holds only what the token itself says: expiry is checked at each
// use (near it, the full check decides), and the login's liveness and the user's activeness are
// still read from the database on every request. Only tokens we signed get in, and at most
// verifiedTokensMax of them.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	user      int64
	family    uuid.UUID
	hasFamily bool
	exp       time.Time
}

const verifiedTokensMax = 4096

func (v *verifiedTokens) get(raw string, now time.Time) (verifiedToken, bool) {
	if v == nil {
		return verifiedToken{}, false
	}
	v.mu.RLock()
	t, ok := v.m[raw]
	v.mu.RUnlock()
	return t, ok && now.Before(t.exp)
}

func (v *verifiedTokens) put(raw string, t verifiedToken) {
	if v == nil {
		return
	}
	v.mu.Lock()
	if len(v.m) >= verifiedTokensMax {
		clear(v.m) // crude but bounded; the next requests re-verify their tokens once
	}
	v.m[strings.Clone(raw)] = t // raw may point into a reused request buffer
	v.mu.Unlock()
}

// accessToken verifies an access token (parse, then its user id), through verifiedTokens.
func (s *Service) accessToken(raw string) (verifiedToken, *TokenError) {
	if t, ok := s.verified.get(raw, s.now()); ok {
		return t, nil
	}
	c, terr := s.parse(raw, typeAccess)
	if terr != nil {
		return verifiedToken{}, terr
	}
	id, terr := c.userID()
	if terr != nil {
		return verifiedToken{}, terr
	}
	fam, hasFamily := c.family()
	t := verifiedToken{user: id, family: fam, hasFamily: hasFamily, exp: c.ExpiresAt.Time}
	s.verified.put(raw, t)
	return t, nil
}
