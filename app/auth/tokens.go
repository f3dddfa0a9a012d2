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

// parser pins HS256 and requires exp, iat, iss and aud: a token signed any other way, or for
// another issuer or audience, is invalid.
func (s *Service) parser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithIssuer(s.cfg.Auth.Issuer),
		jwt.WithAudience(s.cfg.Auth.Audience),
		jwt.WithTimeFunc(s.now),
	)
}

// parse verifies raw and checks its type, with simplejwt's messages.
func (s *Service) parse(raw, wantType string) (*claims, *TokenError) {
	c := &claims{}
	_, err := s.parser().ParseWithClaims(raw, c, func(*jwt.Token) (any, error) { return s.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, tokenInvalid(MsgTokenExpired)
	case err != nil:
		return nil, tokenInvalid(MsgTokenInvalid)
	case c.TokenType == "":
		return nil, tokenInvalid(MsgTokenNoType)
	case c.TokenType != wantType:
		return nil, tokenInvalid(MsgTokenWrongType)
	case c.ID == "":
		return nil, tokenInvalid(MsgTokenNoID)
	}
	return c, nil
}

// sign issues a token of type typ for userID, valid for ttl.
func (s *Service) sign(userID int64, typ, family string, ttl time.Duration) (string, error) {
	now := s.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	c := claims{
		TokenType: typ,
		UserID:    strconv.FormatInt(userID, 10),
		Family:    family,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Auth.Issuer,
			Audience:  jwt.ClaimStrings{s.cfg.Auth.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
}

func (s *Service) signRefresh(userID int64, family string) (string, time.Time, error) {
	ttl := s.cfg.Auth.RefreshTokenTTL
	tok, err := s.sign(userID, typeRefresh, family, ttl)
	// The family expires with its newest token; NumericDate has second precision, as the token.
	return tok, s.now().Add(ttl).Truncate(time.Second), err
}

// startFamily begins a login: a new family whose first refresh token is returned with an access token.
func (s *Service) startFamily(ctx context.Context, userID int64) (Pair, error) {
	fam := uuid.New()
	refresh, exp, err := s.signRefresh(userID, fam.String())
	if err != nil {
		return Pair{}, err
	}
	if err := s.st.CreateFamily(ctx, fam, userID, hashToken(refresh), exp); err != nil {
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
