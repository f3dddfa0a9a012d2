package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrFamilyRevoked means a refresh token's login (family) is revoked (logged out, reused token,
// ended with every login of its account), unknown, or the token is not the family's current one.
var ErrFamilyRevoked = errors.New("refresh token family revoked")

// ErrSessionExpired means a login ended by time: its refresh token expired, it was not used for
// the idle timeout, or it is older than the absolute lifetime.
var ErrSessionExpired = errors.New("login expired")

// SessionLimits are the automatic logoff rules: a login ends when unused (not refreshed) for
// IdleTimeout or older than MaxAge. Zero turns a rule off.
type SessionLimits struct {
	IdleTimeout time.Duration
	MaxAge      time.Duration
}

// timely is the condition that family f has not timed out (token expiry, idle timeout, lifetime).
func (l SessionLimits) timely(args *sqlArgs, f string) string {
	conds := []string{f + ".expires_at > now()"}
	if l.IdleTimeout > 0 {
		conds = append(conds, f+".last_used_at > now() - make_interval(secs => "+args.add(l.IdleTimeout.Seconds())+")")
	}
	if l.MaxAge > 0 {
		conds = append(conds, f+".created_at > now() - make_interval(secs => "+args.add(l.MaxAge.Seconds())+")")
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}

// live is the condition that family f of account u is live: not revoked, of the account's current
// token generation, and timely.
func (l SessionLimits) live(args *sqlArgs, f, u string) string {
	return f + ".revoked_at IS NULL AND " + f + ".generation = " + u + ".token_generation AND " + l.timely(args, f)
}

// endsAt is when family f ends by time if it is not used again.
func (l SessionLimits) endsAt(args *sqlArgs, f string) string {
	parts := []string{f + ".expires_at"}
	if l.IdleTimeout > 0 {
		parts = append(parts, f+".last_used_at + make_interval(secs => "+args.add(l.IdleTimeout.Seconds())+")")
	}
	if l.MaxAge > 0 {
		parts = append(parts, f+".created_at + make_interval(secs => "+args.add(l.MaxAge.Seconds())+")")
	}
	return "LEAST(" + strings.Join(parts, ", ") + ")"
}

// RefreshToken is what the database keeps of a refresh token: its SHA-256, and the claims that,
// with the family and account, sign exactly the same token again (for the grace window).
type RefreshToken struct {
	Hash     []byte
	JTI      string
	IssuedAt time.Time
	Expires  time.Time
}

// NewFamily is a login to record.
type NewFamily struct {
	ID        uuid.UUID
	UserID    int64
	Token     RefreshToken // its first refresh token
	Address   string       // client address, shown in "my sessions"
	UserAgent string
}

// CreateFamily records a new login at the account's current token generation and notes the
// account's last login; ErrNotFound when the account does not exist.
func (s *Store) CreateFamily(ctx context.Context, f NewFamily) error {
	tag, err := s.db.Exec(ctx, `WITH u AS (UPDATE users SET last_login = now() WHERE id = $2 RETURNING token_generation)
		INSERT INTO refresh_families (id, user_id, current_hash, expires_at, current_jti, current_issued_at,
			generation, client_address, user_agent)
		SELECT $1, $2, $3, $4, $5, $6, u.token_generation, $7, $8 FROM u`,
		f.ID, f.UserID, f.Token.Hash, f.Token.Expires, f.Token.JTI, f.Token.IssuedAt, f.Address, f.UserAgent)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// RotateFamily replaces the family's current refresh token (oldHash) by next. Of concurrent
// refreshes with one token, the first rotates and the others wait for it (the family's row is
// locked). The token replaced last (previous_hash), presented again within grace, is not reuse: a
// client whose answer was lost (or a second tab) gets the same successor, returned as replay
// (nil when the family was rotated to next). Any other token that is not current revokes the
// whole family (ErrFamilyRevoked): whoever holds the newer token must log in again. A family that
// timed out is ErrSessionExpired.
func (s *Store) RotateFamily(ctx context.Context, id uuid.UUID, userID int64, oldHash []byte, next RefreshToken,
	grace time.Duration, limits SessionLimits) (replay *RefreshToken, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		st, err := tx.lockFamily(ctx, id, userID, grace, limits)
		if err != nil {
			return err
		}
		switch {
		case st.dead:
			return ErrFamilyRevoked
		case !st.timely:
			return ErrSessionExpired
		case equalBytes(st.current.Hash, oldHash):
			_, err := tx.db.Exec(ctx, `UPDATE refresh_families SET previous_hash = current_hash, current_hash = $2,
				current_jti = $3, current_issued_at = $4, expires_at = $5, rotated_at = now(), last_used_at = now()
				WHERE id = $1`, id, next.Hash, next.JTI, next.IssuedAt, next.Expires)
			return err
		case st.inGrace && equalBytes(st.previous, oldHash) && st.current.JTI != "":
			replay = &st.current
			_, err := tx.db.Exec(ctx, `UPDATE refresh_families SET last_used_at = now() WHERE id = $1`, id)
			return err
		}
		return errReuse
	})
	if errors.Is(err, errReuse) {
		// Outside the transaction, which rolled back: the revocation must stick.
		if err := s.revoke(ctx, id, userID); err != nil {
			return nil, err
		}
		return nil, ErrFamilyRevoked
	}
	return replay, err
}

var errReuse = errors.New("refresh token reused")

// CheckFamily accepts tokenHash when it is the current token of a live family (no rotation mode)
// and counts the use for the idle timeout.
func (s *Store) CheckFamily(ctx context.Context, id uuid.UUID, userID int64, tokenHash []byte, limits SessionLimits) error {
	return s.InTx(ctx, func(tx *Store) error {
		st, err := tx.lockFamily(ctx, id, userID, 0, limits)
		switch {
		case err != nil:
			return err
		case st.dead || !equalBytes(st.current.Hash, tokenHash):
			return ErrFamilyRevoked
		case !st.timely:
			return ErrSessionExpired
		}
		_, err = tx.db.Exec(ctx, `UPDATE refresh_families SET last_used_at = now() WHERE id = $1`, id)
		return err
	})
}

type familyState struct {
	current  RefreshToken
	previous []byte
	dead     bool // revoked, or of an earlier token generation of its account
	timely   bool
	inGrace  bool // rotated less than the grace window ago
}

// lockFamily reads family id of userID and locks its row until the transaction ends.
func (s *Store) lockFamily(ctx context.Context, id uuid.UUID, userID int64, grace time.Duration, limits SessionLimits) (familyState, error) {
	var st familyState
	var jti *string
	var issued *time.Time
	args := sqlArgs{id, userID, grace.Seconds()}
	err := s.db.QueryRow(ctx, `SELECT f.current_hash, f.previous_hash, f.current_jti, f.current_issued_at, f.expires_at,
			f.revoked_at IS NOT NULL OR f.generation <> u.token_generation, `+limits.timely(&args, "f")+`,
			f.rotated_at > now() - make_interval(secs => $3)
		FROM refresh_families f JOIN users u ON u.id = f.user_id
		WHERE f.id = $1 AND f.user_id = $2 FOR UPDATE OF f`, args...).
		Scan(&st.current.Hash, &st.previous, &jti, &issued, &st.current.Expires, &st.dead, &st.timely, &st.inGrace)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, ErrFamilyRevoked
	}
	if jti != nil && issued != nil {
		st.current.JTI, st.current.IssuedAt = *jti, *issued
	}
	return st, err
}

func equalBytes(a, b []byte) bool { return len(a) > 0 && string(a) == string(b) }

// RevokeFamily ends a login (logout). Revoking an already revoked family is not an error.
func (s *Store) RevokeFamily(ctx context.Context, id uuid.UUID, userID int64) error {
	return s.revoke(ctx, id, userID)
}

func (s *Store) revoke(ctx context.Context, id uuid.UUID, userID int64) error {
	_, err := s.db.Exec(ctx,
		`UPDATE refresh_families SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	return err
}

// Session is a live login of an account, as "my sessions" lists it.
type Session struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // when it ends if not used again
	Address    string
	UserAgent  string
}

// ListSessions returns the live logins of account userID, newest first.
func (s *Store) ListSessions(ctx context.Context, userID int64, limits SessionLimits) ([]Session, error) {
	args := sqlArgs{userID}
	rows, err := s.db.Query(ctx, `SELECT f.id, f.created_at, f.last_used_at, `+limits.endsAt(&args, "f")+`,
			f.client_address, f.user_agent
		FROM refresh_families f JOIN users u ON u.id = f.user_id
		WHERE f.user_id = $1 AND `+limits.live(&args, "f", "u")+`
		ORDER BY f.created_at DESC, f.id`, args...)
	if err != nil {
		return nil, err
	}
	out := []Session{}
	for rows.Next() {
		var x Session
		if err := rows.Scan(&x.ID, &x.CreatedAt, &x.LastUsedAt, &x.ExpiresAt, &x.Address, &x.UserAgent); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// EndSession ends live login id of account userID; ErrNotFound when it has no such live login.
func (s *Store) EndSession(ctx context.Context, userID int64, id uuid.UUID, limits SessionLimits) error {
	args := sqlArgs{id, userID}
	tag, err := s.db.Exec(ctx, `UPDATE refresh_families f SET revoked_at = now() FROM users u
		WHERE f.id = $1 AND f.user_id = $2 AND u.id = f.user_id AND `+limits.live(&args, "f", "u"), args...)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// EndOtherSessions ends every login of account userID but keep and returns how many it ended.
func (s *Store) EndOtherSessions(ctx context.Context, userID int64, keep uuid.UUID) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE refresh_families SET revoked_at = now()
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, userID, keep)
	return tag.RowsAffected(), err
}

// DeleteExpiredFamilies removes logins that ended (expired, or revoked) more than grace ago
// (housekeeping). Logins of an earlier token generation or past the idle timeout end with their
// refresh token's expiry at the latest.
func (s *Store) DeleteExpiredFamilies(ctx context.Context, grace time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx,
		`DELETE FROM refresh_families WHERE expires_at < now() - make_interval(secs => $1)
		 OR revoked_at < now() - make_interval(secs => $1)`, grace.Seconds())
	return tag.RowsAffected(), err
}

// SessionRead is a read of patient data that the session check answers in its own statement, so
// that an authenticated read takes one round trip instead of two. PostgreSQL runs the read only
// for a live login of an active account that need not change its password first, in a scope of
// that very account (readableSQL): a refused token, or a request answered 403 before its view,
// reads nothing.
type SessionRead struct {
	Kind  ReadKind
	Scope PatientScope
	ID    int64
}

// ReadKind is what a SessionRead reads.
type ReadKind uint8

const (
	ReadNothing        ReadKind = iota
	ReadPatient                 // GetPatient(Scope, ID): the answer's Value is a Patient
	ReadPatientDoctors          // PatientDoctors(Scope, ID): the answer's Value is a []Doctor
)

// ReadAnswer is a SessionRead's answer: Value, or Err (ErrNotFound when Scope does not see the
// patient). Read.Kind is ReadNothing when nothing was read (no read asked, or not readable).
type ReadAnswer struct {
	Read  SessionRead
	Value any
	Err   error
}

// SessionCheck is what the query behind every authenticated request finds.
type SessionCheck struct {
	User     *User             // without PasswordHash (see sessionUserColumns)
	Live     bool              // the login (family) is live
	Settings map[string]string // the clinic policies administrators chose (shared: do not change)
	Read     ReadAnswer        // the SessionRead's answer, when readable
}

// readable is when a session check answers its read. readableSQL says it in the statement, of r
// (a row of sessionUserColumns and live) and k (the call, whose scope's actor must be the session's
// account); the statement's answer is the one used, readable checks it.
func readable(u *User, live bool) bool { return live && u.IsActive && !u.MustChangePassword }

const readableSQL = "r.live AND r.is_active AND NOT r.must_change_password AND k.actor = r.id"

// UserSession finds account id and reports whether its login family is live, reads the clinic
// policies administrators chose (the settings table, key → value) and answers read, all in the
// one query behind every authenticated request. Concurrent calls share one statement (see
// coalescer); the settings map is then shared by them too, and must not be changed.
func (s *Store) UserSession(ctx context.Context, id int64, family uuid.UUID, limits SessionLimits, read SessionRead) (SessionCheck, error) {
	key := sessionKey{id, family, limits, read}
	if s.sessions != nil {
		if read.Kind != ReadNothing {
			return s.sessionReads.do(ctx, key)
		}
		return s.sessions.do(ctx, key)
	}
	// In a transaction: the same statement, for this call alone.
	out, errs := make([]SessionCheck, 1), make([]error, 1)
	if err := s.userSessions(ctx, []sessionKey{key}, out, errs); err != nil {
		return SessionCheck{}, err
	}
	return out[0], errs[0]
}

type sessionKey struct {
	id     int64
	family uuid.UUID
	limits SessionLimits
	read   SessionRead
}

// userSessions is UserSession for a batch of calls: one statement per distinct SessionLimits and
// ReadKind (one or two in practice), sent together in one round trip; row k.i of a statement
// answers its idx[i-1].
func (s *Store) userSessions(ctx context.Context, keys []sessionKey, out []SessionCheck, errs []error) error {
	type group struct {
		limits SessionLimits
		kind   ReadKind
	}
	groups := map[group][]int{}
	var order []group
	for i, k := range keys {
		g := group{k.limits, k.read.Kind}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
		errs[i] = ErrNotFound
	}
	if len(order) == 1 {
		g := order[0]
		sql, args := sessionStatement(g.limits, g.kind, keys, groups[g])
		rows, err := s.db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		return scanSessions(rows, g.kind, keys, groups[g], out, errs)
	}
	var b pgx.Batch
	for _, g := range order {
		sql, args := sessionStatement(g.limits, g.kind, keys, groups[g])
		b.Queue(sql, args...)
	}
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	for _, g := range order {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := scanSessions(rows, g.kind, keys, groups[g], out, errs); err != nil {
			return err
		}
	}
	return br.Close()
}

// sessionStatement is the statement answering keys[idx...], all with limits and read kind.
func sessionStatement(limits SessionLimits, kind ReadKind, keys []sessionKey, idx []int) (string, []any) {
	ids := make([]byte, 0, 8*len(idx))
	fams := make([]byte, 0, 37*len(idx))
	for n, i := range idx {
		if n > 0 {
			ids, fams = append(ids, ','), append(fams, ',')
		}
		ids = strconv.AppendInt(ids, keys[i].id, 10)
		fams = append(fams, keys[i].family.String()...)
	}
	st := sessionSQLFor(limits, kind)
	args := make([]any, 0, 5+len(st.limitArgs))
	args = append(args, string(ids), string(fams))
	if kind != ReadNothing {
		reads := make([]patientKey, len(idx))
		for n, i := range idx {
			reads[n] = patientKey{keys[i].read.Scope, keys[i].read.ID}
		}
		actors, clinic, pids := patientKeys(reads, make([]error, len(reads)))
		args = append(args, actors, clinic, pids)
	}
	return st.text, append(args, st.limitArgs...)
}

// sessionSQL is the text of a session statement and the values of its limits' parameters, which
// follow the calls' arrays: $1 user ids, $2 families and, with a read, $3 actors, $4 clinic flags
// and $5 patient ids (patientKeys).
type sessionSQL struct {
	text      string
	limitArgs []any
}

type sessionSQLKey struct {
	limits SessionLimits
	kind   ReadKind
}

// sessionStatements holds the sessionSQL of each limits and kind met: a handful (the configured
// limits, three kinds), so it is built once rather than for every batch.
var sessionStatements sync.Map // sessionSQLKey → sessionSQL

func sessionSQLFor(limits SessionLimits, kind ReadKind) sessionSQL {
	key := sessionSQLKey{limits, kind}
	if st, ok := sessionStatements.Load(key); ok {
		return st.(sessionSQL)
	}
	keysSQL := `unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::uuid[])
		WITH ORDINALITY AS k(user_id, family, i)`
	args := sqlArgs{nil, nil}
	if kind != ReadNothing {
		keysSQL = `unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::uuid[],
			string_to_array($3::text, ',')::bigint[], string_to_array($4::text, ',')::boolean[],
			string_to_array($5::text, ',')::bigint[]) WITH ORDINALITY AS k(user_id, family, actor, clinic, id, i)`
		args = append(args, nil, nil, nil)
	}
	calls := len(args)
	live := limits.live(&args, "f", "users")
	// One primary-key lookup per call (LATERAL ... LIMIT 1 is never flattened into a join that
	// the planner could turn into a scan of the whole table once it is large); the settings are
	// read once for the statement.
	text := `SELECT k.i, r.*, (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM settings)::text`
	var read string
	if kind != ReadNothing {
		text += `, ` + readableSQL + ` AS readable`
	}
	// The read's own condition names r: PostgreSQL evaluates it once per call, before it touches
	// the patients, and reads none for a session that is not readable.
	const ok = " AND " + readableSQL
	switch kind {
	case ReadPatient:
		text += `, x.*`
		read = ` LEFT JOIN LATERAL (` + patientByKey(ok) + `) x ON true`
	case ReadPatientDoctors:
		text += `, x.*`
		read = ` LEFT JOIN LATERAL (` + doctorsByKey(ok) + `) x ON true ORDER BY k.i, x.id`
	}
	text += ` FROM ` + keysSQL + `
		CROSS JOIN LATERAL (SELECT ` + sessionUserColumns + `,
			EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = k.family AND f.user_id = users.id AND ` + live + `) AS live
			FROM users WHERE users.id = k.user_id LIMIT 1) r` + read
	st := sessionSQL{text, args[calls:]}
	sessionStatements.Store(key, st)
	return st
}

// scanSessions reads the answers of sessionStatement's statement for keys[idx...] from rows, and
// closes them.
func scanSessions(rows pgx.Rows, kind ReadKind, keys []sessionKey, idx []int, out []SessionCheck, errs []error) error {
	defer rows.Close()
	var settings map[string]string
	var (
		n                  int64
		u                  User
		live, readableByPG bool
		raw                string
		p                  nullPatient
		d                  nullDoctor
	)
	// One set of destinations for every row; the settings are read from the first row only.
	dest := append(append([]any{&n}, sessionUserDest(&u)...), &live, &raw)
	rawAt := len(dest) - 1
	switch kind {
	case ReadPatient:
		dest = append(append(dest, &readableByPG), p.dest()...)
	case ReadPatientDoctors:
		dest = append(append(dest, &readableByPG), d.dest()...)
	}
	for rows.Next() {
		u.LastLogin = nil // the previous row's User keeps its own
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if settings == nil {
			settings = map[string]string{}
			if err := json.Unmarshal([]byte(raw), &settings); err != nil {
				return fmt.Errorf("settings: %w", err)
			}
			dest[rawAt] = nil // skipped from now on
		}
		i := idx[n-1]
		c := &out[i]
		if errs[i] != nil { // the call's first row
			user := new(User)
			*user = u
			*c, errs[i] = SessionCheck{User: user, Live: live, Settings: settings}, nil
			if kind != ReadNothing && readableByPG {
				if !readable(user, live) {
					return errors.New("store: the session statement read for a session that is not readable")
				}
				c.Read = ReadAnswer{Read: keys[i].read, Err: ErrNotFound}
			}
		}
		switch {
		case c.Read.Read.Kind == ReadNothing: // nothing asked, or a refused session
		case kind == ReadPatient && p.ID.Valid:
			c.Read.Value, c.Read.Err = p.patient(), nil
		case kind == ReadPatientDoctors && d.Patient.Valid:
			doctors, _ := c.Read.Value.([]Doctor)
			if doctors == nil {
				doctors = []Doctor{}
			}
			if d.ID.Valid {
				doctors = append(doctors, d.doctor())
			}
			c.Read.Value, c.Read.Err = doctors, nil
		}
	}
	return rows.Err()
}
