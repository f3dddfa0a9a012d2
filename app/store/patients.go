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
	"github.com/jackc/pgx/v5/pgtype"
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
	rows, err := s.db.Query(ctx, `SELECT k.i, r.* FROM `+batchKeys+` CROSS JOIN LATERAL (`+patientByKey("")+`) r`,
		actors, clinic, ids)
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

// patientByKey reads the patient k.id of a batch's call k in k's scope (batchVisible), with the
// further condition cond (" AND ..." or ""). One primary-key lookup per call: LATERAL ... LIMIT 1
// is never flattened into a join that the planner could turn into a scan of the whole table
// once it is large.
func patientByKey(cond string) string {
	return `SELECT ` + patientCols + ` FROM patients p JOIN users u ON u.id = p.managed_by
		WHERE p.id = k.id AND ` + batchVisible + cond + ` LIMIT 1`
}

// nullPatient scans patientCols where they may all be NULL (a LEFT JOIN that found nothing).
type nullPatient struct {
	ID, Age                                 pgtype.Int8
	ManagedBy, Name, Gender, Address, Phone pgtype.Text
	CreatedAt, UpdatedAt                    pgtype.Timestamptz
}

func (n *nullPatient) dest() []any {
	return []any{&n.ID, &n.ManagedBy, &n.Name, &n.Age, &n.Gender, &n.Address, &n.Phone, &n.CreatedAt, &n.UpdatedAt}
}

func (n *nullPatient) patient() Patient {
	return Patient{ID: n.ID.Int64, ManagedBy: n.ManagedBy.String, Name: n.Name.String, Age: n.Age.Int64,
		Gender: n.Gender.String, Address: n.Address.String, PhoneNumber: n.Phone.String,
		CreatedAt: Timestamp{n.CreatedAt.Time}, UpdatedAt: Timestamp{n.UpdatedAt.Time}}
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
	c := patientCreate{ctx: ctx, owner: scope.actor, f: f, audit: audit}
	if s.patientCreates != nil {
		p, err := s.patientCreates.do(ctx, c)
		if !errors.Is(err, errAlone) {
			return p, err
		}
	}
	return s.createPatient(ctx, c)
}

// patientCreate is one call of CreatePatient.
type patientCreate struct {
	ctx   context.Context // the caller's: a call whose caller has gone when its batch begins is not made
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

// errAlone answers a call of a batch that its caller must make alone (CreatePatient does).
var errAlone = errors.New("store: this call runs alone")

// batchLockTimeout bounds how long a batch of creations waits for a row lock (another transaction
// inserting the same owner and phone number): then its calls run alone, each waiting only for
// its own locks, instead of every creation of the batch waiting, or failing, with it.
const batchLockTimeout = "250ms"

// createPatients is CreatePatient for a batch of concurrent calls, in one statement: one commit
// (one WAL flush) for all of them, where each alone costs PostgreSQL a statement, a commit and a
// flush (measured with pgbench: eight patients in one statement, 2.6k statements/s, i.e. three
// times the patients per second of one per statement). Every call is answered only after that
// commit. Calls whose context has ended are not made (once the statement started, the write
// happens, as a single statement's would; the API's request contexts have no deadline today).
// Each of the following runs alone instead, on its caller's goroutine and time (errAlone), so
// that it gets its own answer and holds up nobody else:
// a repeated owner and phone number, a phone number the owner already has (ON CONFLICT skips it:
// alone it gets its unique violation), and every call of a statement PostgreSQL refused for its
// data (nothing of it was written). A call alone in its batch is a batch too: run on the callers'
// goroutines, lone calls would go on in parallel beside the batches and keep them small (measured:
// a third fewer creations per second).
func (s *Store) createPatients(ctx context.Context, keys []patientCreate, out []Patient, errs []error) error {
	type ownerPhone struct {
		owner int64
		phone string
	}
	var batch []int
	seen := map[ownerPhone]bool{}
	for i, k := range keys {
		if err := k.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = errAlone
		f := k.f
		if f.Name == nil || f.Age == nil || f.Gender == nil || f.Address == nil || f.PhoneNumber == nil {
			continue
		}
		if key := (ownerPhone{k.owner, *f.PhoneNumber}); !seen[key] {
			seen[key] = true
			batch = append(batch, i)
		}
	}
	if len(batch) == 0 {
		return nil
	}
	err := s.createPatientsTogether(ctx, keys, batch, out, errs)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && refusedForItsData(pgErr) {
		for _, i := range batch {
			errs[i] = errAlone
		}
		return nil
	}
	// Done, or an error that may have come after the commit (a connection lost): making the calls
	// again could write a patient twice, so every call of the statement gets the error (the others
	// still run alone).
	if err != nil {
		for _, i := range batch {
			errs[i] = err
		}
	}
	return nil
}

// refusedForItsData: PostgreSQL refused and rolled back the statement because of its rows (a
// value, a constraint, a lock it waited too long for, a deadlock), not because of the server or
// the connection.
func refusedForItsData(e *pgconn.PgError) bool {
	if len(e.Code) != 5 || e.Code == "40003" { // 40003: statement_completion_unknown
		return false
	}
	return refusedData(e) || e.Code[:2] == "40" || e.Code == "55P03"
}

// refusedData: PostgreSQL refused a statement's data itself (a data exception, an integrity
// constraint): the same rows would be refused again.
func refusedData(e *pgconn.PgError) bool {
	return strings.HasPrefix(e.Code, "22") || strings.HasPrefix(e.Code, "23")
}

// createPatientsTogether writes keys[batch...] in one statement, answering each in out and errs
// (errs keeps errAlone for a call whose phone number its owner already has).
func (s *Store) createPatientsTogether(ctx context.Context, keys []patientCreate, batch []int, out []Patient, errs []error) error {
	n := len(batch)
	owners, ages := make([]int64, n), make([]int64, n)
	names, genders, addresses, phones := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	// The audit rows' columns (rows of calls without one are not written: audited false).
	audited := make([]bool, n)
	at := make([]time.Time, n)
	users := make([]*int64, n)
	usernames, actions, resources, addrs, requests, agents := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	statuses := make([]int32, n)
	for j, i := range batch {
		k := keys[i]
		owners[j], names[j], ages[j], genders[j], addresses[j], phones[j] = k.owner, *k.f.Name, *k.f.Age, *k.f.Gender, *k.f.Address, *k.f.PhoneNumber
		if e := k.audit; e != nil {
			e.prepare()
			audited[j], at[j], users[j], usernames[j], actions[j], resources[j] = true, e.At, e.UserID, e.Username, e.Action, e.Resource
			statuses[j], addrs[j], requests[j], agents[j] = int32(e.Status), e.Address, e.RequestID, e.UserAgent
		}
	}
	// One round trip, one implicit transaction: the lock timeout applies to this statement only.
	// Row k.i answers keys[batch[i-1]]; a new row is found again by its owner and phone number,
	// which are unique together (and in the batch).
	var b pgx.Batch
	b.Queue(`SELECT set_config('lock_timeout', '` + batchLockTimeout + `', true)`)
	b.Queue(`WITH k AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
				WITH ORDINALITY AS k(owner, name, age, gender, address, phone, i)),
		p AS (INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
			SELECT owner, name, age, gender, address, phone FROM k ORDER BY i
			ON CONFLICT ON CONSTRAINT `+PatientOwnerPhoneKey+` DO NOTHING RETURNING *),
		a AS (SELECT * FROM unnest($7::boolean[], $8::timestamptz[], $9::bigint[], $10::text[], $11::text[],
				$12::text[], $13::int[], $14::text[], $15::text[], $16::text[])
				WITH ORDINALITY AS a(audited, at, user_id, username, action, resource, status, address, request_id, user_agent, i)),
		audit_rows AS (INSERT INTO audit_log (at, user_id, username, action, resource, resource_id, patient_id,
				row_count, filters, status, client_address, request_id, user_agent)
			SELECT a.at, a.user_id, a.username, a.action, a.resource, p.id::text, p.id, NULL, '{}', a.status,
				a.address, a.request_id, a.user_agent
			FROM a JOIN k USING (i) JOIN p ON p.managed_by = k.owner AND p.phone_number = k.phone
			WHERE a.audited ORDER BY a.i)
		SELECT k.i, `+patientCols+` FROM k JOIN p ON p.managed_by = k.owner AND p.phone_number = k.phone
			JOIN users u ON u.id = p.managed_by`,
		owners, names, ages, genders, addresses, phones,
		audited, at, users, usernames, actions, resources, statuses, addrs, requests, agents)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var j int64
		var p Patient
		if err := rows.Scan(append([]any{&j}, patientDest(&p)...)...); err != nil {
			return err
		}
		if j < 1 || j > int64(n) {
			return fmt.Errorf("create patients: answer %d of %d", j, n)
		}
		out[batch[j-1]], errs[batch[j-1]] = p, nil
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	return br.Close()
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
	rows, err := s.db.Query(ctx, `SELECT k.i, r.* FROM `+batchKeys+` CROSS JOIN LATERAL (`+doctorsByKey("")+`) r
		ORDER BY k.i, r.id`, actors, clinic, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	var d nullDoctor
	for rows.Next() {
		var i int64
		if err := rows.Scan(append([]any{&i}, d.dest()...)...); err != nil {
			return err
		}
		if errs[i-1] != nil {
			out[i-1], errs[i-1] = []Doctor{}, nil
		}
		if d.ID.Valid {
			out[i-1] = append(out[i-1], d.doctor())
		}
	}
	return rows.Err()
}

// doctorsByKey reads the doctors of patient k.id of a batch's call k in k's scope (batchVisible),
// with the further condition cond (" AND ..." or ""): the patient's id, then the doctor's columns.
// Per call, index lookups (LATERAL ... OFFSET 0 is never flattened into a join the planner could
// turn into scans of whole tables). The LEFT JOINs keep one row with a NULL doctor for a patient
// without doctors, which tells "no doctors" apart from "no such patient" (no row at all).
func doctorsByKey(cond string) string {
	return `SELECT p.id AS patient, d.id, d.name, d.specialization, d.contact_info, d.created_at, d.updated_at
		FROM patients p
		LEFT JOIN assignments a ON a.patient_id = p.id
		LEFT JOIN doctors d ON d.id = a.doctor_id
		WHERE p.id = k.id AND ` + batchVisible + cond + ` OFFSET 0`
}

// nullDoctor scans doctorsByKey's columns, which a LEFT JOIN may leave NULL.
type nullDoctor struct {
	Patient, ID                       pgtype.Int8
	Name, Specialization, ContactInfo pgtype.Text
	CreatedAt, UpdatedAt              pgtype.Timestamptz
}

func (n *nullDoctor) dest() []any {
	return []any{&n.Patient, &n.ID, &n.Name, &n.Specialization, &n.ContactInfo, &n.CreatedAt, &n.UpdatedAt}
}

func (n *nullDoctor) doctor() Doctor {
	return Doctor{ID: n.ID.Int64, Name: n.Name.String, Specialization: n.Specialization.String,
		ContactInfo: n.ContactInfo.String, CreatedAt: Timestamp{n.CreatedAt.Time}, UpdatedAt: Timestamp{n.UpdatedAt.Time}}
}
