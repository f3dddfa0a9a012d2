package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrFamilyRevoked means a refresh token's login (family) is revoked, expired, unknown, or the token
// is not the family's current one.
var ErrFamilyRevoked = errors.New("refresh token family revoked")

// CreateFamily records a new login: its id, owner, the SHA-256 of its first refresh token and
// when that token expires.
func (s *Store) CreateFamily(ctx context.Context, id uuid.UUID, userID int64, tokenHash []byte, expires time.Time) error {
	_, err := s.db.Exec(ctx,
		`INSERT INTO refresh_families (id, user_id, current_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		id, userID, tokenHash, expires)
	return err
}

// RotateFamily replaces the family's current token hash oldHash by newHash in one statement, so of
// two concurrent refreshes with the same token only one wins. When oldHash is not current (a
// retired token presented again, or the loser of such a race) the whole family is revoked and
// ErrFamilyRevoked returned: whoever holds the newer token must log in again.
func (s *Store) RotateFamily(ctx context.Context, id uuid.UUID, userID int64, oldHash, newHash []byte, expires time.Time) error {
	tag, err := s.db.Exec(ctx,
		`UPDATE refresh_families SET current_hash = $4, rotated_at = now(), expires_at = $5
		 WHERE id = $1 AND user_id = $2 AND current_hash = $3 AND revoked_at IS NULL AND expires_at > now()`,
		id, userID, oldHash, newHash, expires)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if err := s.revoke(ctx, id, userID); err != nil {
		return err
	}
	return ErrFamilyRevoked
}

// CheckFamily reports whether tokenHash is the current token of a live family (no rotation mode).
func (s *Store) CheckFamily(ctx context.Context, id uuid.UUID, userID int64, tokenHash []byte) error {
	var ok bool
	err := s.db.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM refresh_families
		 WHERE id = $1 AND user_id = $2 AND current_hash = $3 AND revoked_at IS NULL AND expires_at > now())`,
		id, userID, tokenHash).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return ErrFamilyRevoked
	}
	return nil
}

// RevokeFamily ends a login (logout). Revoking an already revoked family is not an error.
func (s *Store) RevokeFamily(ctx context.Context, id uuid.UUID, userID int64) error {
	return s.revoke(ctx, id, userID)
}

func (s *Store) revoke(ctx context.Context, id uuid.UUID, userID int64) error {
	_, err := s.db.Exec(ctx,
		`UPDATE refresh_families SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	return err
}

// DeleteExpiredFamilies removes logins that ended more than grace ago (housekeeping).
func (s *Store) DeleteExpiredFamilies(ctx context.Context, grace time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx,
		`DELETE FROM refresh_families WHERE expires_at < now() - make_interval(secs => $1)`, grace.Seconds())
	return tag.RowsAffected(), err
}
