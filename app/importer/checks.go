package importer

import (
	"context"
	"errors"
	"fmt"

	"healthcare/app/auth"
)

// The rows of the original, loaded into temporary tables, are judged in SQL on our server, so
// that "the same username regardless of case" means exactly what our unique index means. Each
// temporary table gets:
//   skip     why the row is not imported (NULL: it is)
//   present  the row is here already: an earlier import brought it (same id and creation time,
//            and the same username, owner, or patient and doctor; other fields may have changed)
//   notes    what was changed to import it (a placeholder email, a password to be set)
// A row is skipped for a problem of its own, or because a row it needs is skipped (a patient
// whose owner is, an assignment whose patient or doctor is). The first reason found is kept.

// judgement is the columns a temporary table gets for the checks.
func judgement(t table) string {
	cols := `skip text, present boolean NOT NULL DEFAULT false, notes text[] NOT NULL DEFAULT '{}'`
	if t.temp == "import_users" {
		cols += `, email_here text, must_change boolean NOT NULL DEFAULT false`
	}
	return cols
}

// skipRule sets skip to reason (an SQL expression over the row) where cond holds.
type skipRule struct{ cond, reason string }

func requiredText(col, label string, max int) []skipRule {
	return []skipRule{
		{col + ` = ''`, `'the ` + label + ` is empty'`},
		{`length(` + col + `) > ` + fmt.Sprint(max), `format('the ` + label + ` has %s characters (at most ` + fmt.Sprint(max) + ` here)', length(` + col + `))`},
	}
}

func notNull(cols ...string) skipRule {
	cond := ""
	for i, c := range cols {
		if i > 0 {
			cond += " OR "
		}
		cond += c + " IS NULL"
	}
	return skipRule{cond, `'a required field is empty (NULL)'`}
}

func concat(lists ...[]skipRule) []skipRule {
	var out []skipRule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var userRules = concat(
	[]skipRule{notNull("username", "password", "is_active", "is_superuser", "date_joined")},
	requiredText("username", "username", 150),
)

var doctorRules = concat(
	[]skipRule{notNull("name", "specialization", "contact_info", "created_at", "updated_at")},
	requiredText("name", "name", 255),
	requiredText("specialization", "specialization", 255),
	requiredText("contact_info", "contact_info", 255),
)

// Patient data never appears in a reason: only ids, field names and lengths.
var patientRules = concat(
	[]skipRule{
		notNull("name", "age", "gender", "address", "phone_number", "created_at", "updated_at", "managed_by_id"),
		{`NOT EXISTS (SELECT 1 FROM import_users u WHERE u.id = managed_by_id)`,
			`format('its owner, user %s, is not in the original database', managed_by_id)`},
		{`EXISTS (SELECT 1 FROM import_users u WHERE u.id = managed_by_id AND u.skip IS NOT NULL)`,
			`(SELECT format('its owner, user %s (%s), is not imported', u.id, u.username) FROM import_users u WHERE u.id = managed_by_id)`},
	},
	requiredText("name", "name", 255),
	[]skipRule{
		{`age < 0 OR age > 2147483647`, `'the age is out of range'`},
		{`gender NOT IN ('M', 'F', 'O')`, `'the gender is not one of M, F, O'`},
		{`address = ''`, `'the address is empty'`},
	},
	requiredText("phone_number", "phone number", 15),
)

var mappingRules = []skipRule{
	notNull("assigned_at", "doctor_id", "patient_id"),
	{`NOT EXISTS (SELECT 1 FROM import_patients p WHERE p.id = patient_id AND p.skip IS NULL)`,
		`format('its patient %s is not imported', patient_id)`},
	{`NOT EXISTS (SELECT 1 FROM import_doctors d WHERE d.id = doctor_id AND d.skip IS NULL)`,
		`format('its doctor %s is not imported', doctor_id)`},
}

func applyRules(ctx context.Context, tx *session, temp string, rules []skipRule) error {
	for _, r := range rules {
		q := fmt.Sprintf(`UPDATE %s SET skip = %s WHERE skip IS NULL AND (%s)`, temp, r.reason, r.cond)
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("check %s: %w", temp, err)
		}
	}
	return nil
}

// duplicates skips every row but one of each group of rows equal in key (an SQL expression) that
// our schema would refuse together: the one kept is the first in order. reason may use the
// skipped row (t) and the id of the one kept (k.keep_id).
func duplicates(ctx context.Context, tx *session, temp, key, order, reason string) error {
	q := fmt.Sprintf(`UPDATE %[1]s t SET skip = %[4]s
		FROM (SELECT id, first_value(id) OVER w AS keep_id FROM %[1]s WHERE skip IS NULL
		      WINDOW w AS (PARTITION BY %[2]s ORDER BY %[3]s)) k
		WHERE t.id = k.id AND k.id <> k.keep_id`, temp, key, order, reason)
	_, err := tx.Exec(ctx, q)
	return err
}

// placeholderEmail is the address an account gets when its own cannot be kept (empty, or another
// imported account's): the reserved .invalid domain, so it never reaches anyone.
func placeholderEmail(id string) string { return `format('user-%s@imported.invalid', ` + id + `)` }

// judge decides, for every loaded row, whether it is imported, skipped (and why), or here already.
func judge(ctx context.Context, tx *session) error {
	// Users. Of accounts whose usernames differ only in case the active one, else the oldest, is
	// imported (usernames are unique regardless of case here; the original allowed Alice and alice).
	if err := applyRules(ctx, tx, "import_users", userRules); err != nil {
		return err
	}
	if err := duplicates(ctx, tx, "import_users", "lower(username)", "is_active DESC, id",
		`format('the username %s differs only in case from user %s (%s), which is imported instead: usernames are unique regardless of case here',
			t.username, k.keep_id, (SELECT username FROM import_users WHERE id = k.keep_id))`); err != nil {
		return fmt.Errorf("check usernames: %w", err)
	}
	if err := userEmails(ctx, tx); err != nil {
		return fmt.Errorf("check emails: %w", err)
	}
	if err := userPasswords(ctx, tx); err != nil {
		return fmt.Errorf("check password hashes: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE import_users s SET present = true FROM users u
		WHERE s.skip IS NULL AND u.id = s.id AND u.username = s.username AND u.date_joined = s.date_joined`); err != nil {
		return err
	}

	// Doctors.
	if err := applyRules(ctx, tx, "import_doctors", doctorRules); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE import_doctors s SET present = true FROM doctors d
		WHERE s.skip IS NULL AND d.id = s.id AND d.created_at = s.created_at`); err != nil {
		return err
	}

	// Patients: phone numbers are unique per owner here (globally in the original, so a
	// duplicate only comes from an original whose constraint was dropped).
	if err := applyRules(ctx, tx, "import_patients", patientRules); err != nil {
		return err
	}
	if err := duplicates(ctx, tx, "import_patients", "managed_by_id, phone_number", "id",
		`format('its owner''s patient %s has the same phone number (unique per owner here)', k.keep_id)`); err != nil {
		return fmt.Errorf("check phone numbers: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE import_patients s SET present = true FROM patients p
		WHERE s.skip IS NULL AND p.id = s.id AND p.created_at = s.created_at AND p.managed_by = s.managed_by_id`); err != nil {
		return err
	}

	// Assignments.
	if err := applyRules(ctx, tx, "import_mappings", mappingRules); err != nil {
		return err
	}
	if err := duplicates(ctx, tx, "import_mappings", "patient_id, doctor_id", "id",
		`format('mapping %s assigns the same doctor to the same patient', k.keep_id)`); err != nil {
		return fmt.Errorf("check assignments: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE import_mappings s SET present = true FROM assignments a
		WHERE s.skip IS NULL AND a.id = s.id AND a.assigned_at = s.assigned_at AND a.patient_id = s.patient_id AND a.doctor_id = s.doctor_id`); err != nil {
		return err
	}
	return nil
}

// userEmails: every account here has a unique address (regardless of case) of 3 to 254
// characters; the original required none. An account whose address cannot be kept is imported
// with a placeholder, and the report says so.
func userEmails(ctx context.Context, tx *session) error {
	if _, err := tx.Exec(ctx, `UPDATE import_users SET email_here = email WHERE skip IS NULL`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE import_users SET email_here = `+placeholderEmail("id")+`,
		notes = notes || (CASE WHEN coalesce(email, '') = '' THEN 'it has no email address' ELSE 'its email address is not usable here' END
		                  || ': set to user-<id>@imported.invalid')
		WHERE skip IS NULL AND (email IS NULL OR length(email) NOT BETWEEN 3 AND 254)`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE import_users t SET email_here = `+placeholderEmail("t.id")+`,
		notes = notes || format('its email address is also that of user %s (%s), which keeps it: set to user-<id>@imported.invalid', k.keep_id, k.keep_name)
		FROM (SELECT id, first_value(id) OVER w AS keep_id, first_value(username) OVER w AS keep_name
		      FROM import_users WHERE skip IS NULL AND email_here = email
		      WINDOW w AS (PARTITION BY lower(email) ORDER BY is_active DESC, id)) k
		WHERE t.id = k.id AND k.id <> k.keep_id`)
	return err
}

// userPasswords marks the accounts whose hash Login cannot verify (unusable, or a scheme no
// Django default of the last ten years verifies): they are imported, and must get a new password.
func userPasswords(ctx context.Context, tx *session) error {
	rows, err := tx.Query(ctx, `SELECT id, password FROM import_users WHERE skip IS NULL`)
	if err != nil {
		return err
	}
	var ids []int64
	var reasons []string
	for rows.Next() {
		var id int64
		var hash string
		if err := rows.Scan(&id, &hash); err != nil {
			return err
		}
		if err := auth.CheckDjangoHash(hash); err != nil {
			why := err.Error()
			if !errors.Is(err, auth.ErrUnusablePassword) {
				why = "its password cannot be verified here (" + why + ")"
			}
			ids = append(ids, id)
			reasons = append(reasons, why+": it needs a new password, set by an administrator")
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE import_users u SET must_change = true, notes = u.notes || r.reason
		FROM unnest($1::bigint[], $2::text[]) r(id, reason) WHERE u.id = r.id`, ids, reasons)
	return err
}

// Collision is a row of the original that cannot be imported because of data already here: an id
// taken by another row, or a unique value (username or email regardless of case, a doctor's
// contact_info, a phone number of the same owner, an assignment) held by another row.
type Collision struct {
	Table  string // ours
	ID     int64  // the original's id
	Reason string
}

// collisionQueries find, among the rows to import (neither skipped nor present), those that
// collide with rows here.
var collisionQueries = []struct{ table, sql string }{
	{"users", `SELECT s.id, format('user id %s (%s in the original) is taken here by %s', s.id, s.username, u.username)
		FROM import_users s JOIN users u ON u.id = s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"users", `SELECT s.id, format('username %s (user %s in the original) is taken here by user %s (%s)', s.username, s.id, u.id, u.username)
		FROM import_users s JOIN users u ON lower(u.username) = lower(s.username) AND u.id <> s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"users", `SELECT s.id, format('email address %s (user %s, %s, in the original) is taken here by user %s (%s)', s.email_here, s.id, s.username, u.id, u.username)
		FROM import_users s JOIN users u ON lower(u.email) = lower(s.email_here) AND u.id <> s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"doctors", `SELECT s.id, format('doctor id %s (%s in the original) is taken here by %s', s.id, s.name, d.name)
		FROM import_doctors s JOIN doctors d ON d.id = s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"doctors", `SELECT s.id, format('contact_info %s (doctor %s in the original) is taken here by doctor %s', s.contact_info, s.id, d.id)
		FROM import_doctors s JOIN doctors d ON d.contact_info = s.contact_info AND d.id <> s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"patients", `SELECT s.id, format('patient id %s is taken here by another patient (of user %s)', s.id, p.managed_by)
		FROM import_patients s JOIN patients p ON p.id = s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"patients", `SELECT s.id, format('patient %s: its owner, user %s, has patient %s here with the same phone number', s.id, s.managed_by_id, p.id)
		FROM import_patients s JOIN patients p ON p.managed_by = s.managed_by_id AND p.phone_number = s.phone_number AND p.id <> s.id
		WHERE s.skip IS NULL AND NOT s.present`},
	{"assignments", `SELECT s.id, format('assignment id %s is taken here by another assignment', s.id)
		FROM import_mappings s JOIN assignments a ON a.id = s.id WHERE s.skip IS NULL AND NOT s.present`},
	{"assignments", `SELECT s.id, format('mapping %s: patient %s is assigned to doctor %s here already (assignment %s)', s.id, s.patient_id, s.doctor_id, a.id)
		FROM import_mappings s JOIN assignments a ON a.patient_id = s.patient_id AND a.doctor_id = s.doctor_id AND a.id <> s.id
		WHERE s.skip IS NULL AND NOT s.present`},
}

func collisions(ctx context.Context, tx *session) ([]Collision, error) {
	var out []Collision
	for _, q := range collisionQueries {
		rows, err := tx.Query(ctx, q.sql+` ORDER BY 1`)
		if err != nil {
			return nil, fmt.Errorf("look for collisions in %s: %w", q.table, err)
		}
		for rows.Next() {
			c := Collision{Table: q.table}
			if err := rows.Scan(&c.ID, &c.Reason); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inserts write the rows to import (neither skipped nor present), ids and timestamps kept. The
// original's superusers become administrators; an assignment's maker is its patient's owner, as
// migration 0002 recorded for the assignments that existed then.
var inserts = map[string]string{
	"users": `INSERT INTO users (id, username, email, password_hash, is_active, date_joined, role, must_change_password, last_login)
		SELECT id, username, email_here, password, is_active, date_joined, CASE WHEN is_superuser THEN 'admin' ELSE 'staff' END, must_change, last_login
		FROM import_users WHERE skip IS NULL AND NOT present ORDER BY id`,
	"doctors": `INSERT INTO doctors (id, name, specialization, contact_info, created_at, updated_at)
		SELECT id, name, specialization, contact_info, created_at, updated_at
		FROM import_doctors WHERE skip IS NULL AND NOT present ORDER BY id`,
	"patients": `INSERT INTO patients (id, managed_by, name, age, gender, address, phone_number, created_at, updated_at)
		SELECT id, managed_by_id, name, age, gender, address, phone_number, created_at, updated_at
		FROM import_patients WHERE skip IS NULL AND NOT present ORDER BY id`,
	"assignments": `INSERT INTO assignments (id, patient_id, doctor_id, assigned_at, assigned_by)
		SELECT m.id, m.patient_id, m.doctor_id, m.assigned_at, p.managed_by
		FROM import_mappings m JOIN patients p ON p.id = m.patient_id
		WHERE m.skip IS NULL AND NOT m.present ORDER BY m.id`,
}
