package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Unique constraints of users; UniqueViolation returns these names on a race.
const (
	UsersUsernameKey = "users_username_lower_key"
	UsersEmailKey    = "users_email_lower_key"
)

// User is an account.
type User struct {
	ID                 int64
	Username           string
	Email              string
	PasswordHash       string
	IsActive           bool
	DateJoined         time.Time
	Role               Role
	MustChangePassword bool       // an administrator set the password; the account must choose its own
	TokenGeneration    int        // its logins are live only at this generation
	LastLogin          *time.Time // nil: never signed in
}

// Admin reports whether the account is an active administrator.
func (u *User) Admin() bool { return u.IsActive && u.Role == RoleAdmin }

const userColumns = `users.id, users.username, users.email, users.password_hash, ` + userColumnsRest

// sessionUserColumns are userColumns without the password hash: the session check of every request
// has no use for it, so it never travels or stays in memory with a request (a password change reads
// it afresh).
const sessionUserColumns = `users.id, users.username, users.email, ` + userColumnsRest

const userColumnsRest = `users.is_active, users.date_joined,
	users.role, users.must_change_password, users.token_generation, users.last_login`

func userDest(u *User) []any {
	return append([]any{&u.ID, &u.Username, &u.Email, &u.PasswordHash}, userDestRest(u)...)
}

// sessionUserDest scans sessionUserColumns.
func sessionUserDest(u *User) []any {
	return append([]any{&u.ID, &u.Username, &u.Email}, userDestRest(u)...)
}

func userDestRest(u *User) []any {
	return []any{&u.IsActive, &u.DateJoined, &u.Role, &u.MustChangePassword, &u.TokenGeneration, &u.LastLogin}
}

func scanUser(row pgx.Row) (*User, error) {
	u := &User{}
	if err := row.Scan(userDest(u)...); err != nil {
		return nil, notFound(err)
	}
	return u, nil
}

// NewUser is an account to create.
type NewUser struct {
	Username, Email, PasswordHash string
	Role                          Role // "" is staff
	Inactive                      bool // waits for an administrator's approval
	MustChangePassword            bool
}

// CreateUser inserts an account. A concurrent duplicate surfaces as a unique violation of
// UsersUsernameKey or UsersEmailKey (see UniqueViolation). Creating an active administrator
// retires the first-run setup tokens in the same transaction.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (*User, error) {
	if n.Role == "" {
		n.Role = RoleStaff
	}
	var u *User
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		u, err = scanUser(tx.db.QueryRow(ctx,
			`INSERT INTO users (username, email, password_hash, role, is_active, must_change_password)
			 VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userColumns,
			n.Username, n.Email, n.PasswordHash, n.Role, !n.Inactive, n.MustChangePassword))
		if err != nil {
			return err
		}
		if u.Admin() {
			return tx.clearSetupTokens(ctx)
		}
		return nil
	})
	return u, err
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

// EmailTakenByOther reports whether another account than id has email, ignoring case.
func (s *Store) EmailTakenByOther(ctx context.Context, email string, id int64) (bool, error) {
	var taken bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2)`, email, id).Scan(&taken)
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

// userOrdering maps the admin list's ordering names to columns.
var userOrdering = map[string]string{
	"id": "users.id", "username": "lower(users.username)", "email": "lower(users.email)",
	"date_joined": "users.date_joined", "last_login": "users.last_login",
}

// ListUsers returns one page of every account and how many match. Search covers username and
// email; Filters["role"] ("admin", "staff") and Filters["is_active"] ("true", "false") match exactly.
func (s *Store) ListUsers(ctx context.Context, q ListQuery) ([]User, int64, error) {
	var args sqlArgs
	active := ""
	switch q.Filters["is_active"] {
	case "true":
		active = "users.is_active"
	case "false":
		active = "NOT users.is_active"
	}
	cond := where(
		searchClause(&args, q.Search, "users.username", "users.email"),
		eqClause(&args, "users.role", q.Filters["role"]),
		active,
	)
	out := make([]User, 0, min(q.Limit, 64))
	total, err := s.listPage(ctx, userColumns, "users", "users", cond, orderBy(q, userOrdering, "users.id"), args, q,
		func(rows pgx.Rows) error {
			var u User
			if err := rows.Scan(userDest(&u)...); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	return out, total, err
}

// ErrLastAdmin: the change would leave no active administrator.
var ErrLastAdmin = errors.New("the last active administrator cannot be deactivated or demoted")

// UserChanges are the fields an administrator changes; nil leaves one as it is.
type UserChanges struct {
	Email              *string
	IsActive           *bool
	Role               *Role
	PasswordHash       *string
	MustChangePassword *bool
}

// adminLockID is the transaction-level advisory lock that serialises every change of who is an
// active administrator, so two concurrent demotions cannot both see "another admin remains".
const adminLockID int64 = 0x61646d696e73 // "admins"

func (s *Store) lockAdmins(ctx context.Context) error {
	_, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", adminLockID)
	return err
}

// UpdateUser applies ch to account id and returns it. Deactivating, reactivating or setting the
// password ends every login of the account (its token generation moves on). Deactivating or
// demoting the last active administrator is refused with ErrLastAdmin; ErrNotFound when there is
// no such account. A unique violation of UsersEmailKey is a taken email address.
func (s *Store) UpdateUser(ctx context.Context, id int64, ch UserChanges) (*User, error) {
	var u *User
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.lockAdmins(ctx); err != nil {
			return err
		}
		cur, err := scanUser(tx.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		losesAdmin := cur.Admin() && ((ch.IsActive != nil && !*ch.IsActive) || (ch.Role != nil && *ch.Role != RoleAdmin))
		if losesAdmin {
			var others bool
			if err := tx.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users
				WHERE role = 'admin' AND is_active AND id <> $1)`, id).Scan(&others); err != nil {
				return err
			}
			if !others {
				return ErrLastAdmin
			}
		}
		endLogins := ch.PasswordHash != nil || (ch.IsActive != nil && *ch.IsActive != cur.IsActive)
		u, err = scanUser(tx.db.QueryRow(ctx, `UPDATE users SET
				email = COALESCE($2, email),
				is_active = COALESCE($3, is_active),
				role = COALESCE($4, role),
				password_hash = COALESCE($5, password_hash),
				must_change_password = COALESCE($6, must_change_password),
				token_generation = token_generation + CASE WHEN $7 THEN 1 ELSE 0 END
			WHERE id = $1 RETURNING `+userColumns,
			id, ch.Email, ch.IsActive, ch.Role, ch.PasswordHash, ch.MustChangePassword, endLogins))
		if err != nil {
			return err
		}
		if u.Admin() {
			return tx.clearSetupTokens(ctx)
		}
		return nil
	})
	return u, err
}

// EndLogins ends every login of account id at once ("sign out everywhere"); ErrNotFound when there
// is no such account.
func (s *Store) EndLogins(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET token_generation = token_generation + 1 WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetOwnPassword replaces the password an account chose itself: the administrator's "must change"
// is lifted and every login of the account ends (the caller starts a new one for the client
// that asked).
func (s *Store) SetOwnPassword(ctx context.Context, id int64, hash string) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = false,
		token_generation = token_generation + 1 WHERE id = $1`, id, hash)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetPasswordHash replaces an account's password hash without ending its logins (rehash on login
// after a cost change: the password itself is the same).
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetUserActive activates or deactivates an account without the last-administrator rule (tools and
// tests; the admin API uses UpdateUser). A change ends every login of the account.
func (s *Store) SetUserActive(ctx context.Context, id int64, active bool) error {
	tag, err := s.db.Exec(ctx, `UPDATE users SET is_active = $2,
		token_generation = token_generation + CASE WHEN is_active <> $2 THEN 1 ELSE 0 END WHERE id = $1`, id, active)
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

// ActiveAdminExists reports whether any active administrator exists.
func (s *Store) ActiveAdminExists(ctx context.Context) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active)`).Scan(&ok)
	return ok, err
}

// ErrAdminExists: an active administrator exists, so first-run setup is over.
var ErrAdminExists = errors.New("an administrator exists")

// CreateFirstAdmin creates n as an administrator only while no active administrator exists, all in
// one transaction under the administrators' lock; ErrAdminExists otherwise. accept, when not nil,
// is given the stored setup-token hashes (locked) and must return nil for the creation to go on.
func (s *Store) CreateFirstAdmin(ctx context.Context, n NewUser, accept func(hashes [][]byte) error) (*User, error) {
	n.Role, n.Inactive = RoleAdmin, false
	var u *User
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.lockAdmins(ctx); err != nil {
			return err
		}
		exists, err := tx.ActiveAdminExists(ctx)
		if err != nil {
			return err
		}
		if exists {
			return ErrAdminExists
		}
		if accept != nil {
			hashes, err := tx.setupTokenHashes(ctx)
			if err != nil {
				return err
			}
			if err := accept(hashes); err != nil {
				return err
			}
		}
		u, err = tx.CreateUser(ctx, n)
		return err
	})
	return u, err
}

// AddSetupToken stores the hash of a first-run setup token (see CreateFirstAdmin).
func (s *Store) AddSetupToken(ctx context.Context, hash []byte) error {
	_, err := s.db.Exec(ctx, `INSERT INTO setup_tokens (hash) VALUES ($1) ON CONFLICT DO NOTHING`, hash)
	return err
}

func (s *Store) setupTokenHashes(ctx context.Context) ([][]byte, error) {
	rows, err := s.db.Query(ctx, `SELECT hash FROM setup_tokens ORDER BY created_at FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

func (s *Store) clearSetupTokens(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `DELETE FROM setup_tokens`)
	return err
}

// SetupTokenHashes returns the stored setup-token hashes (a check before the real one, which
// CreateFirstAdmin makes under its lock).
func (s *Store) SetupTokenHashes(ctx context.Context) ([][]byte, error) {
	rows, err := s.db.Query(ctx, `SELECT hash FROM setup_tokens ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}
