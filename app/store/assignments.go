package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Assignment assigns a doctor to a patient. Every query here takes a PatientScope and only sees the
// assignments of the patients the scope sees. Field order is the JSON order.
type Assignment struct {
	ID          int64     `json:"id"`
	Patient     int64     `json:"patient"`
	Doctor      int64     `json:"doctor"`
	PatientName string    `json:"patient_name"`
	DoctorName  string    `json:"doctor_name"`
	AssignedAt  Timestamp `json:"assigned_at"`
}

// AssignmentPairKey is the constraint that allows a patient/doctor pair once.
const AssignmentPairKey = "assignments_patient_doctor_key"

// RefError says which of an assignment's references is not one the caller may use: a patient that
// does not exist or is someone else's (the two look the same), or a doctor that does not exist.
type RefError struct{ Patient, Doctor bool }

func (e *RefError) Error() string {
	switch {
	case e.Patient && e.Doctor:
		return "patient and doctor not found"
	case e.Patient:
		return "patient not found"
	default:
		return "doctor not found"
	}
}

// refFromFK maps a foreign-key violation (the patient or doctor was deleted between our check and
// the write) to the same RefError the sequential case gets.
func refFromFK(err error) error {
	name := ForeignKeyViolation(err)
	switch {
	case name == "":
		return err
	case strings.Contains(name, "doctor"):
		return &RefError{Doctor: true}
	default:
		return &RefError{Patient: true}
	}
}

const assignmentFrom = "assignments a JOIN patients p ON p.id = a.patient_id JOIN doctors d ON d.id = a.doctor_id"
const assignmentCols = "a.id, a.patient_id, a.doctor_id, p.name, d.name, a.assigned_at"

// assignmentOrdering maps the API's ordering names to columns (the only way a name reaches SQL).
var assignmentOrdering = map[string]string{"id": "a.id", "assigned_at": "a.assigned_at"}

func assignmentDest(m *Assignment) []any {
	return []any{&m.ID, &m.Patient, &m.Doctor, &m.PatientName, &m.DoctorName, &m.AssignedAt.Time}
}

// ListAssignments returns one page of the assignments of the scope's patients (one query, names
// joined in) and how many there are. Filters["patient"] and Filters["doctor"] are ids (decimal
// text, validated by the caller) that match exactly; they only narrow the scope's assignments.
func (s *Store) ListAssignments(ctx context.Context, scope PatientScope, q ListQuery) ([]Assignment, int64, error) {
	var args sqlArgs
	cond := where(
		scope.visible(&args, "p.managed_by"),
		eqClause(&args, "a.patient_id", q.Filters["patient"]),
		eqClause(&args, "a.doctor_id", q.Filters["doctor"]),
	)
	out := make([]Assignment, 0, min(q.Limit, 64))
	total, err := s.listPage(ctx, assignmentCols, assignmentFrom, "assignments a JOIN patients p ON p.id = a.patient_id", cond, orderBy(q, assignmentOrdering, "a.id"), args, q,
		func(rows pgx.Rows) error {
			var m Assignment
			if err := rows.Scan(assignmentDest(&m)...); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	return out, total, err
}

// GetAssignment returns an assignment of one of the scope's patients, or ErrNotFound.
func (s *Store) GetAssignment(ctx context.Context, scope PatientScope, id int64) (Assignment, error) {
	var m Assignment
	var args sqlArgs
	cond := where("a.id = "+args.add(id), scope.visible(&args, "p.managed_by"))
	err := s.db.QueryRow(ctx, "SELECT "+assignmentCols+" FROM "+assignmentFrom+cond, args...).Scan(assignmentDest(&m)...)
	return m, notFound(err)
}

// CreateAssignment assigns doctorID to patient patientID, made by the scope's actor, in one
// statement that checks the scope itself. Errors: *RefError when the scope does not see the patient
// or either row does not exist (also when one is deleted concurrently); a unique violation of
// AssignmentPairKey for a pair that is already assigned.
func (s *Store) CreateAssignment(ctx context.Context, scope PatientScope, patientID, doctorID int64) (Assignment, error) {
	var (
		m                     Assignment
		patientName, doctorNm *string
		id                    *int64
		at                    *time.Time
	)
	if scope.actor <= 0 {
		return m, ErrNoActor
	}
	args := sqlArgs{scope.actor, patientID, doctorID}
	err := s.db.QueryRow(ctx, `WITH
		np AS (SELECT id, name FROM patients`+where("id = $2", scope.visible(&args, "managed_by"))+`),
		nd AS (SELECT id, name FROM doctors WHERE id = $3),
		ins AS (INSERT INTO assignments (patient_id, doctor_id, assigned_by) SELECT np.id, nd.id, $1::bigint FROM np, nd
			RETURNING id, assigned_at)
		SELECT np.name, nd.name, ins.id, ins.assigned_at
		FROM (VALUES (1)) AS one (x)
		LEFT JOIN np ON true LEFT JOIN nd ON true LEFT JOIN ins ON true`,
		args...).Scan(&patientName, &doctorNm, &id, &at)
	if err != nil {
		return m, refFromFK(err)
	}
	if patientName == nil || doctorNm == nil {
		return m, &RefError{Patient: patientName == nil, Doctor: doctorNm == nil}
	}
	if id == nil || at == nil {
		return m, errors.New("create assignment: insert returned no row")
	}
	return Assignment{ID: *id, Patient: patientID, Doctor: doctorID, PatientName: *patientName,
		DoctorName: *doctorNm, AssignedAt: Timestamp{*at}}, nil
}

// UpdateAssignment repoints an assignment of the scope's patients to patientID and/or doctorID (nil
// keeps the current one), in one statement; the scope's actor becomes the one who made it. Errors:
// ErrNotFound when the scope does not see the assignment; *RefError when it does not see the new
// patient or either row does not exist; a unique violation of AssignmentPairKey when the new pair
// is already assigned.
func (s *Store) UpdateAssignment(ctx context.Context, scope PatientScope, id int64, patientID, doctorID *int64) (Assignment, error) {
	var (
		found                 bool
		patientName, doctorNm *string
		newID, pid, did       *int64
		at                    *time.Time
	)
	if scope.actor <= 0 {
		return Assignment{}, ErrNoActor
	}
	args := sqlArgs{scope.actor, id, patientID, doctorID}
	err := s.db.QueryRow(ctx, `WITH
		cur AS (SELECT a.id, a.patient_id, a.doctor_id FROM assignments a JOIN patients op ON op.id = a.patient_id
			`+where("a.id = $2", scope.visible(&args, "op.managed_by"))+`),
		np AS (SELECT p.id, p.name FROM patients p, cur
			`+where("p.id = COALESCE($3::bigint, cur.patient_id)", scope.visible(&args, "p.managed_by"))+`),
		nd AS (SELECT d.id, d.name FROM doctors d, cur WHERE d.id = COALESCE($4::bigint, cur.doctor_id)),
		upd AS (UPDATE assignments a SET patient_id = np.id, doctor_id = nd.id, assigned_by = $1 FROM cur, np, nd
			WHERE a.id = cur.id RETURNING a.id, a.patient_id, a.doctor_id, a.assigned_at)
		SELECT cur.id IS NOT NULL, np.name, nd.name, upd.id, upd.patient_id, upd.doctor_id, upd.assigned_at
		FROM (VALUES (1)) AS one (x)
		LEFT JOIN cur ON true LEFT JOIN np ON true LEFT JOIN nd ON true LEFT JOIN upd ON true`,
		args...).Scan(&found, &patientName, &doctorNm, &newID, &pid, &did, &at)
	if err != nil {
		return Assignment{}, refFromFK(err)
	}
	if !found {
		return Assignment{}, ErrNotFound
	}
	if patientName == nil || doctorNm == nil {
		return Assignment{}, &RefError{Patient: patientName == nil, Doctor: doctorNm == nil}
	}
	if newID == nil || at == nil {
		return Assignment{}, ErrNotFound // deleted (or cascaded away) while we were updating it
	}
	return Assignment{ID: *newID, Patient: *pid, Doctor: *did, PatientName: *patientName,
		DoctorName: *doctorNm, AssignedAt: Timestamp{*at}}, nil
}

// DeleteAssignment removes an assignment of the scope's patients; ErrNotFound otherwise.
func (s *Store) DeleteAssignment(ctx context.Context, scope PatientScope, id int64) error {
	var args sqlArgs
	cond := where("a.id = "+args.add(id), "p.id = a.patient_id", scope.visible(&args, "p.managed_by"))
	tag, err := s.db.Exec(ctx, `DELETE FROM assignments a USING patients p`+cond, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DoctorExists reports whether doctor id exists (for reporting every failing field of a request
// that fails validation anyway).
func (s *Store) DoctorExists(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM doctors WHERE id = $1)", id).Scan(&ok)
	return ok, err
}
