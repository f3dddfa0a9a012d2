package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Patient belongs to the user who created it (managed_by); every query here takes that user's id.
// Field order is the JSON order.
type Patient struct {
	ID          int64     `json:"id"`
	ManagedBy   string    `json:"managed_by"` // the owner's username
	Name        string    `json:"name"`
	Age         int64     `json:"age"`
	Gender      string    `json:"gender"`
	Address     string    `json:"address"`
	PhoneNumber string    `json:"phone_number"`
	CreatedAt   Timestamp `json:"created_at"`
	UpdatedAt   Timestamp `json:"updated_at"`
}

// PatientFields are the writable fields; nil means "leave unchanged" (PATCH). Create needs all.
type PatientFields struct {
	Name        *string
	Age         *int64
	Gender      *string
	Address     *string
	PhoneNumber *string
}

// PatientOwnerPhoneKey is the constraint that keeps phone numbers unique per owner.
const PatientOwnerPhoneKey = "patients_owner_phone_key"

const patientCols = "p.id, u.username, p.name, p.age, p.gender, p.address, p.phone_number, p.created_at, p.updated_at"

// patientOrdering maps the API's ordering names to columns (the only way a name reaches SQL).
var patientOrdering = map[string]string{
	"id": "p.id", "name": "p.name", "age": "p.age", "created_at": "p.created_at", "updated_at": "p.updated_at",
}

func patientDest(p *Patient) []any {
	return []any{&p.ID, &p.ManagedBy, &p.Name, &p.Age, &p.Gender, &p.Address, &p.PhoneNumber,
		&p.CreatedAt.Time, &p.UpdatedAt.Time}
}

// ListPatients returns one page of owner's patients and how many match. Search covers name,
// phone_number and address; Filters["gender"] matches exactly.
func (s *Store) ListPatients(ctx context.Context, owner int64, q ListQuery) (out []Patient, total int64, err error) {
	if q.Search != "" {
		err = s.searches.run(ctx, owner, func(ctx context.Context) error {
			out, total, err = s.listPatients(ctx, owner, q)
			return err
		})
		return out, total, err
	}
	return s.listPatients(ctx, owner, q)
}

func (s *Store) listPatients(ctx context.Context, owner int64, q ListQuery) ([]Patient, int64, error) {
	var args sqlArgs
	cond := where(
		"p.managed_by = "+args.add(owner),
		searchClause(&args, q.Search, "p.name", "p.phone_number", "p.address"),
		eqClause(&args, "p.gender", q.Filters["gender"]),
	)
	out := make([]Patient, 0, min(q.Limit, 64))
	total, err := s.listPage(ctx, patientCols, "patients p JOIN users u ON u.id = p.managed_by", "patients p", cond,
		orderBy(q, patientOrdering, "p.id"), args, q,
		func(rows pgx.Rows) error {
			var p Patient
			if err := rows.Scan(patientDest(&p)...); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	return out, total, err
}

// eqClause is "col = $n" for a non-empty value, else "".
func eqClause(args *sqlArgs, col, v string) string {
	if v == "" {
		return ""
	}
	return col + " = " + args.add(v)
}

// GetPatient returns owner's patient id, or ErrNotFound (also when it is someone else's).
// Concurrent calls share one statement (see coalescer).
func (s *Store) GetPatient(ctx context.Context, owner, id int64) (Patient, error) {
	if s.patients != nil {
		return s.patients.do(ctx, patientKey{owner, id})
	}
	var p Patient
	err := s.db.QueryRow(ctx, "SELECT "+patientCols+
		" FROM patients p JOIN users u ON u.id = p.managed_by WHERE p.id = $2 AND p.managed_by = $1", owner, id).
		Scan(patientDest(&p)...)
	return p, notFound(err)
}

type patientKey struct{ owner, id int64 }

// getPatients is GetPatient for a batch of calls, in one statement: row k.i answers keys[i-1].
func (s *Store) getPatients(ctx context.Context, keys []patientKey, out []Patient, errs []error) error {
	// Arrays travel as text: pgx's reflective array encoding cost more than the query.
	owners := make([]byte, 0, 8*len(keys))
	ids := make([]byte, 0, 8*len(keys))
	for i, k := range keys {
		if i > 0 {
			owners, ids = append(owners, ','), append(ids, ',')
		}
		owners, ids = strconv.AppendInt(owners, k.owner, 10), strconv.AppendInt(ids, k.id, 10)
		errs[i] = ErrNotFound
	}
	// One primary-key lookup per call (LATERAL ... LIMIT 1 is never flattened into a join that
	// the planner could turn into a scan of the whole table once it is large).
	rows, err := s.db.Query(ctx, `SELECT k.i, r.*
		FROM unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::bigint[])
		     WITH ORDINALITY AS k(owner, id, i)
		CROSS JOIN LATERAL (SELECT `+patientCols+` FROM patients p JOIN users u ON u.id = p.managed_by
			WHERE p.id = k.id AND p.managed_by = k.owner LIMIT 1) r`, string(owners), string(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var p Patient
		if err := rows.Scan(append([]any{&i}, patientDest(&p)...)...); err != nil {
			return err
		}
		out[i-1], errs[i-1] = p, nil
	}
	return rows.Err()
}

// CreatePatient inserts a patient owned by owner; every field must be set. A phone number the
// owner already uses is a unique violation of PatientOwnerPhoneKey. Concurrent calls share one
// statement, and so one commit: one WAL flush for the batch instead of one per patient.
func (s *Store) CreatePatient(ctx context.Context, owner int64, f PatientFields) (Patient, error) {
	if s.creates != nil && f.Name != nil && f.Age != nil && f.Gender != nil && f.Address != nil && f.PhoneNumber != nil {
		// Cloned: the strings may point into the request's buffer, and the batch may outlive a
		// caller that gives up waiting.
		return s.creates.do(ctx, newPatient{Owner: owner, Name: strings.Clone(*f.Name), Age: *f.Age,
			Gender: strings.Clone(*f.Gender), Address: strings.Clone(*f.Address), PhoneNumber: strings.Clone(*f.PhoneNumber)})
	}
	return s.createPatient(ctx, owner, f)
}

func (s *Store) createPatient(ctx context.Context, owner int64, f PatientFields) (Patient, error) {
	var p Patient
	err := s.db.QueryRow(ctx, `WITH p AS (
			INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
		SELECT `+patientCols+` FROM p JOIN users u ON u.id = p.managed_by`,
		owner, f.Name, f.Age, f.Gender, f.Address, f.PhoneNumber).Scan(patientDest(&p)...)
	return p, err
}

// newPatient is one CreatePatient call in a batch (JSON: the batch travels as one jsonb value).
type newPatient struct {
	I           int    `json:"i"`
	Owner       int64  `json:"owner"`
	Name        string `json:"name"`
	Age         int64  `json:"age"`
	Gender      string `json:"gender"`
	Address     string `json:"address"`
	PhoneNumber string `json:"phone_number"`
}

// createPatients is CreatePatient for a batch, in one statement and one transaction. A phone
// number the owner already has (in the table, or earlier in the batch) skips that row only
// (ON CONFLICT DO NOTHING) and is that call's unique violation, as alone. Any other failure (a
// user deleted meanwhile, a full disk) would fail the whole statement: then each call is retried
// alone, so it fails only the calls it concerns.
func (s *Store) createPatients(ctx context.Context, keys []newPatient, out []Patient, errs []error) error {
	for i := range keys {
		keys[i].I = i
	}
	batch, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `WITH k AS (
			SELECT * FROM jsonb_to_recordset($1::jsonb)
			AS k(i int, owner bigint, name text, age bigint, gender text, address text, phone_number text)),
		p AS (
			INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			SELECT owner, name, age, gender, address, phone_number FROM k ORDER BY i
			ON CONFLICT ON CONSTRAINT `+PatientOwnerPhoneKey+` DO NOTHING
			RETURNING *)
		SELECT `+patientCols+`, p.managed_by FROM p JOIN users u ON u.id = p.managed_by`, string(batch))
	type ownerPhone struct {
		owner int64
		phone string
	}
	created := map[ownerPhone]Patient{}
	if err == nil {
		for rows.Next() {
			var p Patient
			var owner int64
			if err = rows.Scan(append(patientDest(&p), &owner)...); err != nil {
				break
			}
			created[ownerPhone{owner, p.PhoneNumber}] = p
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		for i, k := range keys {
			out[i], errs[i] = s.createPatient(ctx, k.Owner, PatientFields{Name: &k.Name, Age: &k.Age, Gender: &k.Gender,
				Address: &k.Address, PhoneNumber: &k.PhoneNumber})
		}
		return nil
	}
	for i, k := range keys {
		key := ownerPhone{k.Owner, k.PhoneNumber}
		if p, ok := created[key]; ok {
			out[i] = p
			delete(created, key) // a second call with the same phone in this batch is a duplicate
			continue
		}
		errs[i] = &pgconn.PgError{Severity: "ERROR", Code: "23505", ConstraintName: PatientOwnerPhoneKey,
			Message: `duplicate key value violates unique constraint "` + PatientOwnerPhoneKey + `"`}
	}
	return nil
}

// UpdatePatient sets the non-nil fields and updated_at on owner's patient id; ErrNotFound when
// there is no such patient of owner's.
func (s *Store) UpdatePatient(ctx context.Context, owner, id int64, f PatientFields) (Patient, error) {
	var p Patient
	err := s.db.QueryRow(ctx, `WITH p AS (
			UPDATE patients SET
				name = COALESCE($3, name),
				age = COALESCE($4, age),
				gender = COALESCE($5, gender),
				address = COALESCE($6, address),
				phone_number = COALESCE($7, phone_number),
				updated_at = now()
			WHERE id = $2 AND managed_by = $1 RETURNING *)
		SELECT `+patientCols+` FROM p JOIN users u ON u.id = p.managed_by`,
		owner, id, f.Name, f.Age, f.Gender, f.Address, f.PhoneNumber).Scan(patientDest(&p)...)
	return p, notFound(err)
}

// DeletePatient removes owner's patient id and, by cascade, its assignments; ErrNotFound when
// there is no such patient of owner's.
func (s *Store) DeletePatient(ctx context.Context, owner, id int64) error {
	tag, err := s.db.Exec(ctx, "DELETE FROM patients WHERE id = $2 AND managed_by = $1", owner, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PatientExists reports whether owner has a patient id.
func (s *Store) PatientExists(ctx context.Context, owner, id int64) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM patients WHERE id = $2 AND managed_by = $1)", owner, id).Scan(&ok)
	return ok, err
}

// PatientPhoneTaken reports whether another of owner's patients (not exceptID; 0 for none) has
// phone. Used only to report every failing field at once when a request fails validation anyway;
// the unique constraint is what actually guards the data.
func (s *Store) PatientPhoneTaken(ctx context.Context, owner int64, phone string, exceptID int64) (bool, error) {
	var taken bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patients
		WHERE managed_by = $1 AND phone_number = $2 AND id <> $3)`, owner, phone, exceptID).Scan(&taken)
	return taken, err
}

// PatientDoctors returns the doctors assigned to owner's patient id, by doctor id, in one query;
// ErrNotFound when owner has no such patient (an existing patient with no doctors is an empty list).
// Concurrent calls share one statement (see coalescer).
func (s *Store) PatientDoctors(ctx context.Context, owner, id int64) ([]Doctor, error) {
	if s.patientDoctors != nil {
		return s.patientDoctors.do(ctx, patientKey{owner, id})
	}
	out := make([][]Doctor, 1)
	errs := make([]error, 1)
	if err := s.patientDoctorsOf(ctx, []patientKey{{owner, id}}, out, errs); err != nil {
		return nil, err
	}
	return out[0], errs[0]
}

// patientDoctorsOf is PatientDoctors for a batch of calls, in one statement.
func (s *Store) patientDoctorsOf(ctx context.Context, keys []patientKey, out [][]Doctor, errs []error) error {
	owners, ids := make([]byte, 0, 8*len(keys)), make([]byte, 0, 8*len(keys))
	for i, k := range keys {
		if i > 0 {
			owners, ids = append(owners, ','), append(ids, ',')
		}
		owners, ids = strconv.AppendInt(owners, k.owner, 10), strconv.AppendInt(ids, k.id, 10)
		errs[i] = ErrNotFound
	}
	// The LEFT JOINs keep one all-NULL doctor for a patient without doctors, which tells "no
	// doctors" apart from "no such patient" (no row at all) without a second query.
	// Per call, index lookups (LATERAL ... OFFSET 0 is never flattened into a join the planner
	// could turn into scans of whole tables).
	rows, err := s.db.Query(ctx, `SELECT k.i, r.*
		FROM unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::bigint[])
		     WITH ORDINALITY AS k(owner, id, i)
		CROSS JOIN LATERAL (SELECT d.id, d.name, d.specialization, d.contact_info, d.created_at, d.updated_at
			FROM patients p
			LEFT JOIN assignments a ON a.patient_id = p.id
			LEFT JOIN doctors d ON d.id = a.doctor_id
			WHERE p.id = k.id AND p.managed_by = k.owner OFFSET 0) r
		ORDER BY k.i, r.id`, string(owners), string(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i                    int64
			id                   *int64
			name, spec, contact  *string
			createdAt, updatedAt *time.Time
		)
		if err := rows.Scan(&i, &id, &name, &spec, &contact, &createdAt, &updatedAt); err != nil {
			return err
		}
		if errs[i-1] != nil {
			out[i-1], errs[i-1] = []Doctor{}, nil
		}
		if id == nil {
			continue
		}
		out[i-1] = append(out[i-1], Doctor{ID: *id, Name: *name, Specialization: *spec, ContactInfo: *contact,
			CreatedAt: Timestamp{*createdAt}, UpdatedAt: Timestamp{*updatedAt}})
	}
	return rows.Err()
}
