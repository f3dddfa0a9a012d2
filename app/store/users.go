package store

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Unique constraints of users; UniqueViolation returns these names on a race.
const (
	UsersUsernameKey = "users_username_lower_key"
	UsersEmailKey    = "users_email_lower_key"
)

// User is an account.
type User struct {
	ID           int64
	Username     string
	Email        string
	PasswordHash string
	IsActive     bool
	DateJoined   time.Time
}

const userColumns = `id, username, email, password_hash, is_active, date_joined`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	u := &User{}
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsActive, &u.DateJoined); err != nil {
		return nil, notFound(err)
	}
	return u, nil
}

// CreateUser inserts an account. A concurrent duplicate surfaces as a unique violation of
// UsersUsernameKey or UsersEmailKey (see UniqueViolation).
func (s *Store) CreateUser(ctx context.Context, username, email, passwordHash string) (*User, error) {
	return scanUser(s.db.QueryRow(ctx,
		`INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) RETURNING `+userColumns,
		username, email, passwordHash))
}

// UsernameTaken reports whether a username exists, ignoring case.
func (s *Store) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var taken bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1))`, username).Scan(&taken)
	return taken, err
}

// EmailTaken reports whether an email address exists, ignoring case.
func (s *Store) EmailTaken(ctx context.Context, email string) (bool, error) {
	var taken bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))`, email).Scan(&taken)
	return taken, err
}

// UserByUsername finds the account whose username equals username ignoring case (at most one
// exists); callers that want an exact match compare User.Username themselves.
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(username) = lower($1)`, username))
}

// UserByID finds an account by id (one primary-key lookup).
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserSession finds an account by id and reports whether its login (refresh-token family) is
// still live: not logged out, not revoked by a reused token, not expired. It is the one query
// behind every authenticated request, so concurrent calls share one statement (see coalescer).
func (s *Store) UserSession(ctx context.Context, id int64, family uuid.UUID) (*User, bool, error) {
	if s.sessions != nil {
		r, err := s.sessions.do(ctx, sessionKey{id, family})
		return r.user, r.live, err
	}
	u := &User{}
	var live bool
	err := s.db.QueryRow(ctx, `SELECT `+userColumns+`,
		EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = $2 AND f.user_id = users.id
		        AND f.revoked_at IS NULL AND f.expires_at > now())
		FROM users WHERE id = $1`, id, family).
		Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsActive, &u.DateJoined, &live)
	if err != nil {
		return nil, false, notFound(err)
	}
	return u, live, nil
}

type sessionKey struct {
	id     int64
	family uuid.UUID
}

type session struct {
	user *User
	live bool
}

// userSessions is UserSession for a batch of calls, in one statement: row k.i answers keys[i-1].
func (s *Store) userSessions(ctx context.Context, keys []sessionKey, out []session, errs []error) error {
	ids := make([]byte, 0, 20*len(keys))
	fams := make([]byte, 0, 37*len(keys))
	for i, k := range keys {
		if i > 0 {
			ids, fams = append(ids, ','), append(fams, ',')
		}
		ids = strconv.AppendInt(ids, k.id, 10)
		fams = append(fams, k.family.String()...)
		errs[i] = ErrNotFound
	}
	// One primary-key lookup per call (LATERAL ... LIMIT 1 is never flattened into a join that
	// the planner could turn into a scan of the whole table once it is large).
	rows, err := s.db.Query(ctx, `SELECT k.i, r.*
		FROM unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::uuid[])
		     WITH ORDINALITY AS k(user_id, family, i)
		CROSS JOIN LATERAL (SELECT u.id, u.username, u.email, u.password_hash, u.is_active, u.date_joined,
			EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = k.family AND f.user_id = u.id
			        AND f.revoked_at IS NULL AND f.expires_at > now())
			FROM users u WHERE u.id = k.user_id LIMIT 1) r`, string(ids), string(fams))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		u := &User{}
		var live bool
		if err := rows.Scan(&i, &u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsActive, &u.DateJoined, &live); err != nil {
			return err
		}
		out[i-1], errs[i-1] = session{u, live}, nil
	}
	return rows.Err()
}

// SetPasswordHash replaces an account's password hash (rehash on login after a cost change).
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetUserActive activates or deactivates an account; a deactivated account cannot log in, refresh
// or use its access tokens.
func (s *Store) SetUserActive(ctx context.Context, id int64, active bool) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET is_active = $2 WHERE id = $1`, id, active)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// DeleteUser removes an account with its patients, assignments and logins.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
