package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Patient was entered by the account managed_by names; every query here takes a PatientScope.
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

// ListPatients returns one page of the scope's patients and how many match. Search covers name,
// phone_number and address, and a term that reads as a phone number also matches by its digits;
// Filters["gender"] matches exactly.
func (s *Store) ListPatients(ctx context.Context, scope PatientScope, q ListQuery) (out []Patient, total int64, err error) {
	if q.Search != "" {
		err = s.searches.run(ctx, scope.actor, func(ctx context.Context) error {
			out, total, err = s.listPatients(ctx, scope, q)
			return err
		})
		return out, total, err
	}
	return s.listPatients(ctx, scope, q)
}

func (s *Store) listPatients(ctx context.Context, scope PatientScope, q ListQuery) ([]Patient, int64, error) {
	var args sqlArgs
	cond := where(
		scope.visible(&args, "p.managed_by"),
		patientSearch(&args, q.Search),
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

// patientSearch is the search clause of ListPatients: the term anywhere in name, phone_number or
// address, or, for a phone-like term, its digits anywhere in the phone number's digits, so
// "555200" and "(555) 200" both find "+1 555 200 1000" whichever way either was typed.
func patientSearch(args *sqlArgs, term string) string {
	text := searchClause(args, term, "p.name", "p.phone_number", "p.address")
	d := phoneDigits(term)
	if d == "" {
		return text
	}
	return "(" + text + " OR regexp_replace(p.phone_number, '[^0-9]', '', 'g') LIKE " + args.add("%"+d+"%") + ")"
}

// phoneDigits returns the digits of a term made only of digits and the punctuation people put in
// phone numbers (spaces, + - . / and brackets), or "" for any other term (a name, an address).
func phoneDigits(term string) string {
	var b strings.Builder
	for _, r := range term {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" +-./()[]", r):
		default:
			return ""
		}
	}
	return b.String()
}

// eqClause is "col = $n" for a non-empty value, else "".
func eqClause(args *sqlArgs, col, v string) string {
	if v == "" {
		return ""
	}
	return col + " = " + args.add(v)
}

// GetPatient returns patient id when the scope sees it, else ErrNotFound.
// Concurrent calls share one statement (see coalescer).
func (s *Store) GetPatient(ctx context.Context, scope PatientScope, id int64) (Patient, error) {
	if s.patients != nil {
		return s.patients.do(ctx, patientKey{scope, id})
	}
	var p Patient
	var args sqlArgs
	cond := where("p.id = "+args.add(id), scope.visible(&args, "p.managed_by"))
	err := s.db.QueryRow(ctx, "SELECT "+patientCols+" FROM patients p JOIN users u ON u.id = p.managed_by"+cond, args...).
		Scan(patientDest(&p)...)
	return p, notFound(err)
}

// BeginGetPatient starts GetPatient now and returns the wait for its answer (see
// api's prefetch: the read runs beside the request's session check).
func (s *Store) BeginGetPatient(scope PatientScope, id int64) func(ctx context.Context) (Patient, error) {
	if s.patients != nil {
		return s.patients.begin(patientKey{scope, id})
	}
	return func(ctx context.Context) (Patient, error) { return s.GetPatient(ctx, scope, id) }
}

// BeginPatientDoctors starts PatientDoctors now and returns the wait for its answer.
func (s *Store) BeginPatientDoctors(scope PatientScope, id int64) func(ctx context.Context) ([]Doctor, error) {
	if s.patientDoctors != nil {
		return s.patientDoctors.begin(patientKey{scope, id})
	}
	return func(ctx context.Context) ([]Doctor, error) { return s.PatientDoctors(ctx, scope, id) }
}

// patientKey is one call for patient id in scope.
type patientKey struct {
	scope PatientScope
	id    int64
}

// patientKeys renders a batch's keys as the text arrays the batch statements unnest ($1 actors,
// $2 clinic flags, $3 ids), and presets every answer to ErrNotFound. The condition
// batchVisible is scope.visible for row k.
func patientKeys(keys []patientKey, errs []error) (actors, clinic, ids string) {
	a := make([]byte, 0, 8*len(keys))
	c := make([]byte, 0, 2*len(keys))
	d := make([]byte, 0, 8*len(keys))
	for i, k := range keys {
		if i > 0 {
			a, c, d = append(a, ','), append(c, ','), append(d, ',')
		}
		a, d = strconv.AppendInt(a, k.scope.actor, 10), strconv.AppendInt(d, k.id, 10)
		c = strconv.AppendBool(c, k.scope.clinic)
		errs[i] = ErrNotFound
	}
	return string(a), string(c), string(d)
}

// batchKeys unnests patientKeys' arrays; batchVisible is PatientScope.visible for its row k.
const (
	batchKeys = `unnest(string_to_array($1::text, ',')::bigint[], string_to_array($2::text, ',')::boolean[],
		string_to_array($3::text, ',')::bigint[]) WITH ORDINALITY AS k(actor, clinic, id, i)`
	batchVisible = `k.actor > 0 AND (k.clinic OR p.managed_by = k.actor)`
)

// getPatients is GetPatient for a batch of calls, in one statement: row k.i answers keys[i-1].
func (s *Store) getPatients(ctx context.Context, keys []patientKey, out []Patient, errs []error) error {
	actors, clinic, ids := patientKeys(keys, errs)
	// One primary-key lookup per call (LATERAL ... LIMIT 1 is never flattened into a join that
	// the planner could turn into a scan of the whole table once it is large).
	rows, err := s.db.Query(ctx, `SELECT k.i, r.* FROM `+batchKeys+`
		CROSS JOIN LATERAL (SELECT `+patientCols+` FROM patients p JOIN users u ON u.id = p.managed_by
			WHERE p.id = k.id AND `+batchVisible+` LIMIT 1) r`, actors, clinic, ids)
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

// ErrNoActor is the error of a write in the zero scope, which may create nothing.
var ErrNoActor = errors.New("store: no actor in the patient scope")

// CreatePatient inserts a patient entered by the scope's actor (its managed_by); every field must be
// set. A phone number the actor already uses is a unique violation of PatientOwnerPhoneKey. A
// non-nil audit row is written by the same statement, with the new patient's id. Outside a
// transaction, concurrent calls share one statement (see createPatients).
func (s *Store) CreatePatient(ctx context.Context, scope PatientScope, f PatientFields, audit *AuditEvent) (Patient, error) {
	if scope.actor <= 0 {
		return Patient{}, ErrNoActor
	}
	if s.patientCreates != nil {
		return s.patientCreates.do(ctx, patientCreate{scope.actor, f, audit})
	}
	return s.createPatient(ctx, patientCreate{scope.actor, f, audit})
}

// patientCreate is one call of CreatePatient.
type patientCreate struct {
	owner int64
	f     PatientFields
	audit *AuditEvent
}

func (s *Store) createPatient(ctx context.Context, c patientCreate) (Patient, error) {
	var p Patient
	f := c.f
	args := sqlArgs{c.owner, f.Name, f.Age, f.Gender, f.Address, f.PhoneNumber}
	err := s.db.QueryRow(ctx, `WITH p AS (
			INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)`+auditWith(&args, c.audit, "p", true)+`
		SELECT `+patientCols+` FROM p JOIN users u ON u.id = p.managed_by`, args...).Scan(patientDest(&p)...)
	return p, err
}

// createPatients is CreatePatient for a batch of concurrent calls, in one statement: one commit
// (one WAL flush) for all of them, where each alone costs PostgreSQL a statement, a commit and a
// flush (measured with pgbench: eight patients in one statement, 2.6k statements/s, i.e. three
// times the patients per second of one per statement). Every call is answered only after that
// commit. When the statement fails (a phone number used twice, a constraint), nothing of it was
// written and each call runs alone instead, so that each gets its own answer.
func (s *Store) createPatients(ctx context.Context, keys []patientCreate, out []Patient, errs []error) error {
	if len(keys) > 1 {
		err := s.createPatientsTogether(ctx, keys, out, errs)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) && !errors.Is(err, errAlone) {
			// Done, or an error that may have come after the commit (a connection lost): trying
			// again could write a patient twice, so every call gets the error.
			return err
		}
		// PostgreSQL refused the statement: it wrote nothing.
	}
	for i, k := range keys {
		out[i], errs[i] = s.createPatient(ctx, k)
	}
	return nil
}

// errAlone: a batch that the calls must run alone.
var errAlone = errors.New("store: these calls run one by one")

func (s *Store) createPatientsTogether(ctx context.Context, keys []patientCreate, out []Patient, errs []error) error {
	n := len(keys)
	owners, ages := make([]int64, n), make([]int64, n)
	names, genders, addresses, phones := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	// The audit rows' columns (rows of calls without one are not written: audited false).
	audited := make([]bool, n)
	at := make([]time.Time, n)
	users := make([]*int64, n)
	usernames, actions, resources, addrs, requests, agents := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	statuses := make([]int32, n)
	for i, k := range keys {
		if k.f.Name == nil || k.f.Age == nil || k.f.Gender == nil || k.f.Address == nil || k.f.PhoneNumber == nil {
			return errAlone // each alone then gets its own error
		}
		owners[i], names[i], ages[i], genders[i], addresses[i], phones[i] = k.owner, *k.f.Name, *k.f.Age, *k.f.Gender, *k.f.Address, *k.f.PhoneNumber
		if e := k.audit; e != nil {
			if e.At.IsZero() {
				e.At = time.Now()
			}
			audited[i], at[i], users[i], usernames[i], actions[i], resources[i] = true, e.At, e.UserID, e.Username, e.Action, e.Resource
			statuses[i], addrs[i], requests[i], agents[i] = int32(e.Status), e.Address, e.RequestID, e.UserAgent
		}
	}
	// Row k.i answers keys[i-1]; a new row is found again by its owner and phone number, which
	// are unique together.
	rows, err := s.db.Query(ctx, `WITH k AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
				WITH ORDINALITY AS k(owner, name, age, gender, address, phone, i)),
		p AS (INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			SELECT owner, name, age, gender, address, phone FROM k ORDER BY i RETURNING *),
		a AS (SELECT * FROM unnest($7::boolean[], $8::timestamptz[], $9::bigint[], $10::text[], $11::text[],
				$12::text[], $13::int[], $14::text[], $15::text[], $16::text[])
				WITH ORDINALITY AS a(audited, at, user_id, username, action, resource, status, address, request_id, user_agent, i)),
		audit_rows AS (INSERT INTO audit_log (`+strings.Join(auditColumns, ", ")+`)
			SELECT a.at, a.user_id, a.username, a.action, a.resource, p.id::text, p.id, NULL, '{}', a.status,
				a.address, a.request_id, a.user_agent
			FROM a JOIN k USING (i) JOIN p ON p.managed_by = k.owner AND p.phone_number = k.phone
			WHERE a.audited ORDER BY a.i)
		SELECT k.i, `+patientCols+` FROM k JOIN p ON p.managed_by = k.owner AND p.phone_number = k.phone
			JOIN users u ON u.id = p.managed_by`,
		owners, names, ages, genders, addresses, phones,
		audited, at, users, usernames, actions, resources, statuses, addrs, requests, agents)
	if err != nil {
		return err
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var i int64
		var p Patient
		if err := rows.Scan(append([]any{&i}, patientDest(&p)...)...); err != nil {
			return err
		}
		out[i-1], errs[i-1] = p, nil
		got++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if got != n {
		// Cannot be (the statement inserted n rows or none), but an answer must never be missing.
		return fmt.Errorf("create patients: %d answers for %d calls", got, n)
	}
	return nil
}

// UpdatePatient sets the non-nil fields and updated_at on patient id; ErrNotFound when the scope
// does not see it. managed_by never changes.
func (s *Store) UpdatePatient(ctx context.Context, scope PatientScope, id int64, f PatientFields) (Patient, error) {
	var p Patient
	args := sqlArgs{f.Name, f.Age, f.Gender, f.Address, f.PhoneNumber}
	cond := where("id = "+args.add(id), scope.visible(&args, "managed_by"))
	err := s.db.QueryRow(ctx, `WITH p AS (
			UPDATE patients SET
				name = COALESCE($1, name),
				age = COALESCE($2, age),
				gender = COALESCE($3, gender),
				address = COALESCE($4, address),
				phone_number = COALESCE($5, phone_number),
				updated_at = now()
			`+cond+` RETURNING *)
		SELECT `+patientCols+` FROM p JOIN users u ON u.id = p.managed_by`, args...).Scan(patientDest(&p)...)
	return p, notFound(err)
}

// DeletePatient removes patient id and, by cascade, its assignments; ErrNotFound when the scope
// does not see it.
func (s *Store) DeletePatient(ctx context.Context, scope PatientScope, id int64) error {
	var args sqlArgs
	cond := where("id = "+args.add(id), scope.visible(&args, "managed_by"))
	tag, err := s.db.Exec(ctx, "DELETE FROM patients"+cond, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PatientExists reports whether the scope sees patient id.
func (s *Store) PatientExists(ctx context.Context, scope PatientScope, id int64) (bool, error) {
	var ok bool
	var args sqlArgs
	cond := where("id = "+args.add(id), scope.visible(&args, "managed_by"))
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM patients"+cond+")", args...).Scan(&ok)
	return ok, err
}

// PatientPhoneTaken reports whether phone is taken where the unique constraint would find it: among
// the patients of the account that entered patient exceptID (when the scope sees it), or of the
// scope's actor for a new patient (exceptID 0). Used only to report every failing field at once
// when a request fails validation anyway; the unique constraint is what actually guards the data.
func (s *Store) PatientPhoneTaken(ctx context.Context, scope PatientScope, phone string, exceptID int64) (bool, error) {
	var taken bool
	args := sqlArgs{scope.actor, phone, exceptID}
	cond := where("e.id = $3", scope.visible(&args, "e.managed_by"))
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patients
		WHERE managed_by = COALESCE((SELECT e.managed_by FROM patients e`+cond+`), $1)
		AND phone_number = $2 AND id <> $3)`, args...).Scan(&taken)
	return taken, err
}

// PatientDoctors returns the doctors assigned to patient id, by doctor id, in one query;
// ErrNotFound when the scope does not see it (an existing patient with no doctors is an empty list).
// Concurrent calls share one statement (see coalescer).
func (s *Store) PatientDoctors(ctx context.Context, scope PatientScope, id int64) ([]Doctor, error) {
	if s.patientDoctors != nil {
		return s.patientDoctors.do(ctx, patientKey{scope, id})
	}
	var args sqlArgs
	cond := where("p.id = "+args.add(id), scope.visible(&args, "p.managed_by"))
	// The LEFT JOINs keep one all-NULL row for a patient without doctors, which tells "no doctors"
	// apart from "no such patient" (no row at all) without a second query.
	rows, err := s.db.Query(ctx, `SELECT d.id, d.name, d.specialization, d.contact_info, d.created_at, d.updated_at
		FROM patients p
		LEFT JOIN assignments a ON a.patient_id = p.id
		LEFT JOIN doctors d ON d.id = a.doctor_id
		`+cond+`
		ORDER BY d.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := false
	out := []Doctor{}
	for rows.Next() {
		found = true
		var (
			id                   *int64
			name, spec, contact  *string
			createdAt, updatedAt *time.Time
		)
		if err := rows.Scan(&id, &name, &spec, &contact, &createdAt, &updatedAt); err != nil {
			return nil, err
		}
		if id == nil {
			continue
		}
		out = append(out, Doctor{ID: *id, Name: *name, Specialization: *spec, ContactInfo: *contact,
			CreatedAt: Timestamp{*createdAt}, UpdatedAt: Timestamp{*updatedAt}})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return out, nil
}

// patientDoctorsOf is PatientDoctors for a batch of calls, in one statement.
func (s *Store) patientDoctorsOf(ctx context.Context, keys []patientKey, out [][]Doctor, errs []error) error {
	actors, clinic, ids := patientKeys(keys, errs)
	// Per call, index lookups (LATERAL ... OFFSET 0 is never flattened into a join the planner
	// could turn into scans of whole tables). The LEFT JOINs keep one all-NULL doctor for a patient
	// without doctors, which tells "no doctors" apart from "no such patient" (no row at all).
	rows, err := s.db.Query(ctx, `SELECT k.i, r.* FROM `+batchKeys+`
		CROSS JOIN LATERAL (SELECT d.id, d.name, d.specialization, d.contact_info, d.created_at, d.updated_at
			FROM patients p
			LEFT JOIN assignments a ON a.patient_id = p.id
			LEFT JOIN doctors d ON d.id = a.doctor_id
			WHERE p.id = k.id AND `+batchVisible+` OFFSET 0) r
		ORDER BY k.i, r.id`, actors, clinic, ids)
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
