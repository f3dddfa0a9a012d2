package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"

	"healthcare/app/store"
)

// ErrSetupToken: the first-run setup token presented is not one the server printed.
var ErrSetupToken = errors.New("the setup token is not valid")

// NewSetupToken makes a one-time first-run setup token, stores its hash, and returns it to be
// printed: whoever reads the server's console or log may create the first administrator with it
// (POST /api/setup/), while no administrator exists. A stranger on the network cannot.
func NewSetupToken(ctx context.Context, st *store.Store) (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	if err := st.AddSetupToken(ctx, hashToken(tok)); err != nil {
		return "", err
	}
	return tok, nil
}

// CheckSetupToken returns nil when token's hash is one of hashes, else ErrSetupToken. Every hash
// is compared, each in constant time, so the answer's timing says nothing about the tokens.
func CheckSetupToken(hashes [][]byte, token string) error {
	h := hashToken(strings.ToLower(strings.TrimSpace(token)))
	ok := 0
	for _, s := range hashes {
		ok |= subtle.ConstantTimeCompare(h, s)
	}
	if ok != 1 || token == "" {
		return ErrSetupToken
	}
	return nil
}

// StartLogin begins a login for an account the caller has just authenticated another way (the
// first administrator, right after setup) and returns its tokens.
func (s *Service) StartLogin(ctx context.Context, st *store.Store, userID int64, client Client) (Pair, error) {
	return s.newFamily(ctx, st, userID, client)
}
