package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Doctor is a row of the doctors directory, shared by all users. Field order is the JSON order.
type Doctor struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Specialization string    `json:"specialization"`
	ContactInfo    string    `json:"contact_info"`
	CreatedAt      Timestamp `json:"created_at"`
	UpdatedAt      Timestamp `json:"updated_at"`
}

// DoctorFields are the writable fields; nil means "leave unchanged" (PATCH). Create needs all.
type DoctorFields struct {
	Name           *string
	Specialization *string
	ContactInfo    *string
}

// Constraint names the API maps to field errors.
const (
	DoctorContactInfoKey = "doctors_contact_info_key"
)

const doctorCols = "d.id, d.name, d.specialization, d.contact_info, d.created_at, d.updated_at"

// doctorOrdering maps the API's ordering names to columns (the only way a name reaches SQL).
var doctorOrdering = map[string]string{
	"id": "d.id", "name": "d.name", "specialization": "d.specialization",
	"created_at": "d.created_at", "updated_at": "d.updated_at",
}

func doctorDest(d *Doctor) []any {
	return []any{&d.ID, &d.Name, &d.Specialization, &d.ContactInfo, &d.CreatedAt.Time, &d.UpdatedAt.Time}
}

// ListDoctors returns one page of the directory and the number of matching doctors. Search covers
// name, specialization and contact_info; Filters["specialization"] matches exactly, ignoring case.
func (s *Store) ListDoctors(ctx context.Context, q ListQuery) ([]Doctor, int64, error) {
	var args sqlArgs
	cond := where(
		searchClause(&args, q.Search, "d.name", "d.specialization", "d.contact_info"),
		eqFoldClause(&args, "d.specialization", q.Filters["specialization"]),
	)
	out := make([]Doctor, 0, min(q.Limit, 64))
	total, err := s.listPage(ctx, doctorCols, "doctors d", "doctors d", cond, orderBy(q, doctorOrdering, "d.id"), args, q,
		func(rows pgx.Rows) error {
			var d Doctor
			if err := rows.Scan(doctorDest(&d)...); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	return out, total, err
}

// eqFoldClause is "lower(col) = lower($n)" for a non-empty value, else "".
func eqFoldClause(args *sqlArgs, col, v string) string {
	if v == "" {
		return ""
	}
	return "lower(" + col + ") = lower(" + args.add(v) + ")"
}

// GetDoctor returns one doctor or ErrNotFound.
func (s *Store) GetDoctor(ctx context.Context, id int64) (Doctor, error) {
	var d Doctor
	err := s.db.QueryRow(ctx, "SELECT "+doctorCols+" FROM doctors d WHERE d.id = $1", id).Scan(doctorDest(&d)...)
	return d, notFound(err)
}

// CreateDoctor inserts a doctor; every field must be set. A duplicate contact_info is a unique
// violation of DoctorContactInfoKey (see UniqueViolation).
func (s *Store) CreateDoctor(ctx context.Context, f DoctorFields) (Doctor, error) {
	var d Doctor
	err := s.db.QueryRow(ctx, `INSERT INTO doctors AS d (name, specialization, contact_info)
		VALUES ($1, $2, $3) RETURNING `+doctorCols, f.Name, f.Specialization, f.ContactInfo).Scan(doctorDest(&d)...)
	return d, err
}

// UpdateDoctor sets the non-nil fields and updated_at; ErrNotFound when the doctor does not exist.
func (s *Store) UpdateDoctor(ctx context.Context, id int64, f DoctorFields) (Doctor, error) {
	var d Doctor
	err := s.db.QueryRow(ctx, `UPDATE doctors AS d SET
		name = COALESCE($2, d.name),
		specialization = COALESCE($3, d.specialization),
		contact_info = COALESCE($4, d.contact_info),
		updated_at = now()
		WHERE d.id = $1 RETURNING `+doctorCols, id, f.Name, f.Specialization, f.ContactInfo).Scan(doctorDest(&d)...)
	return d, notFound(err)
}

// ErrDoctorAssignedByOthers: a non-administrator tried to delete a doctor that another account
// assigned to a patient; the delete would take that account's assignments with it.
var ErrDoctorAssignedByOthers = errors.New("the doctor has assignments made by other accounts")

// DeleteDoctor removes a doctor and, by cascade, its assignments; ErrNotFound when absent. Unless
// actor is an administrator, a doctor with an assignment another account made (or whose maker was
// deleted) is refused with ErrDoctorAssignedByOthers: nobody deletes data they did not make.
// The doctor's row is locked first, so no assignment can be added between the check and the delete.
func (s *Store) DeleteDoctor(ctx context.Context, actor Actor, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		var one int
		if err := tx.db.QueryRow(ctx, "SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE", id).Scan(&one); err != nil {
			return notFound(err)
		}
		if !actor.Admin() {
			// A statement of its own: it sees every assignment committed before the lock was granted.
			var others bool
			if err := tx.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM assignments
				WHERE doctor_id = $1 AND assigned_by IS DISTINCT FROM $2)`, id, actor.UserID).Scan(&others); err != nil {
				return err
			}
			if others {
				return ErrDoctorAssignedByOthers
			}
		}
		_, err := tx.db.Exec(ctx, "DELETE FROM doctors WHERE id = $1", id)
		return err
	})
}

// DoctorContactTaken reports whether another doctor (not exceptID; 0 for none) has contactInfo.
// Used only to report every failing field at once when a request fails validation anyway; the
// unique constraint is what actually guards the data.
func (s *Store) DoctorContactTaken(ctx context.Context, contactInfo string, exceptID int64) (bool, error) {
	var taken bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM doctors WHERE contact_info = $1 AND id <> $2)",
		contactInfo, exceptID).Scan(&taken)
	return taken, err
}
