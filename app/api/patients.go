package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// Patients' messages: the original's words, and DRF's wording for the checks it lacked.
const (
	msgPatientPhoneTaken    = "patient with this phone number already exists."
	msgPatientPhoneNoDigits = "Enter a valid phone number."
)

// maxAge bounds a patient's age in years (the original took any int32, so 969 was saved).
const maxAge = 150

// patientOrdering is the list's ordering allow-list (the store maps each to a column).
var patientOrdering = []string{"id", "name", "age", "created_at", "updated_at"}

// maxAddressLength bounds the one free-text field of a patient (the original's TextField had no
// limit; 1 MB addresses made 150-row lists of 150 MB). With it and MaxLimit a list page is at
// most about 1.5 MB.
const maxAddressLength = 1024

// genders are the gender field's choices.
var genders = []string{"M", "F", "O"}

// patientFields is the patient serializer as OPTIONS describes it.
var patientFields = fields{
	readOnlyID(),
	{Name: "managed_by", Type: "field", ReadOnly: true, Label: "Managed by"},
	charField("name", "Name", 255),
	{Name: "age", Type: "integer", Required: true, Label: "Age", MinValue: ptr(0), MaxValue: ptr(maxAge)},
	{Name: "gender", Type: "choice", Required: true, Label: "Gender",
		Choices: []choice{{"M", "Male"}, {"F", "Female"}, {"O", "Other"}}},
	charField("address", "Address", maxAddressLength),
	charField("phone_number", "Phone number", 15),
	timestamp("created_at", "Created at"),
	timestamp("updated_at", "Updated at"),
}

// patientRoutes mounts the patients routes; every one is limited to the patients the caller may
// see (patientScope: their own, or with clinic visibility every patient).
func (a *API) patientRoutes(r fiber.Router) {
	audited := auditSpec{Resource: "patient", Reads: true, Patient: true}
	a.mount(r, "/patients", view{Name: "Patient List", Get: a.listPatients, Post: a.createPatient, PostForm: patientFields, Audit: audited})
	a.mount(r, "/patients/:id", view{Name: "Patient Instance", Get: a.getPatient, Read: readByID(a, store.ReadPatient),
		Put: a.updatePatient(false), Patch: a.updatePatient(true), Delete: a.deletePatient, PutForm: patientFields, Audit: audited})
	a.mount(r, "/patients/:id/doctors", view{Name: "Patient Doctors", Get: a.patientDoctors, Read: readByID(a, store.ReadPatientDoctors),
		Audit: auditSpec{Resource: "patient_doctors", Reads: true, Patient: true}})
	a.mount(r, "/patients/:id/audit", view{Name: "Patient Access History", Get: a.patientAudit,
		Audit: auditSpec{Resource: "audit", Reads: true, Patient: true}})
}

func (a *API) listPatients(c *fiber.Ctx) error {
	q, fe := ParseListQuery(c, patientOrdering...)
	if g := c.Query("gender"); g != "" {
		valid := false
		for _, v := range genders {
			valid = valid || g == v
		}
		if valid {
			q.Filters = map[string]string{"gender": g}
		} else {
			fe.Add("gender", fmt.Sprintf(msgChoice, g))
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	patients, total, err := a.Store.ListPatients(c.UserContext(), a.patientScope(c), q)
	if err != nil {
		return err
	}
	auditCount(c, len(patients))
	SetListHeaders(c, q, total)
	return c.JSON(patients)
}

func (a *API) getPatient(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	scope := a.patientScope(c)
	p, err := readInScope(c, store.ReadPatient, scope, id, func(ctx context.Context) (store.Patient, error) { return a.Store.GetPatient(ctx, scope, id) })
	if err != nil {
		return storeErr(err)
	}
	return sendPatient(c, &p)
}

// sendPatient answers one patient, as c.JSON would (store.Patient.AppendJSON writes the same bytes).
func sendPatient(c *fiber.Ctx, p *store.Patient) error {
	c.Response().SetBodyRaw(p.AppendJSON(make([]byte, 0, 384)))
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
}

func (a *API) createPatient(c *fiber.Ctx) error {
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	f := readPatient(b)
	scope := a.patientScope(c)
	if b.Err() != nil {
		return a.patientInvalid(c.UserContext(), scope, b, f, 0)
	}
	var p store.Patient
	err = a.changeOne(c, fiber.StatusCreated, func(row *store.AuditEvent) (err error) {
		p, err = a.Store.CreatePatient(c.UserContext(), scope, f, row)
		auditID(c, p.ID, p.ID)
		return err
	})
	if err != nil {
		return patientWriteErr(err)
	}
	return sendPatient(c.Status(fiber.StatusCreated), &p)
}

// updatePatient is PUT (all fields required) or PATCH (any subset) of a patient the caller may see.
func (a *API) updatePatient(partial bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		ctx, scope := c.UserContext(), a.patientScope(c)
		exists := func() (bool, error) { return a.Store.PatientExists(ctx, scope, id) }
		b, err := ParseBody(c, partial)
		if err != nil {
			return notFoundFirst(err, exists)
		}
		f := readPatient(b)
		if b.Err() != nil {
			if err := notFoundFirst(b.Err(), exists); !isInvalid(err) {
				return err
			}
			return a.patientInvalid(ctx, scope, b, f, id)
		}
		var p store.Patient
		err = a.change(c, fiber.StatusOK, func(st *store.Store) (err error) {
			p, err = st.UpdatePatient(ctx, scope, id, f)
			return err
		})
		if err != nil {
			return patientWriteErr(err)
		}
		return sendPatient(c, &p)
	}
}

func (a *API) deletePatient(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := a.change(c, fiber.StatusNoContent, func(st *store.Store) error {
		return st.DeletePatient(c.UserContext(), a.patientScope(c), id)
	}); err != nil {
		return storeErr(err)
	}
	return noContent(c)
}

// patientDoctors is GET /patients/{id}/doctors/: the doctors assigned to a patient the caller may see.
func (a *API) patientDoctors(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	scope := a.patientScope(c)
	doctors, err := readInScope(c, store.ReadPatientDoctors, scope, id, func(ctx context.Context) ([]store.Doctor, error) {
		return a.Store.PatientDoctors(ctx, scope, id)
	})
	if err != nil {
		return storeErr(err)
	}
	auditCount(c, len(doctors))
	return c.JSON(doctors)
}

// readPatient reads the patient serializer's fields in its order: name, age, gender, address,
// phone_number. managed_by, id and timestamps are never read.
func readPatient(b *Body) store.PatientFields {
	var f store.PatientFields
	if s, ok := b.String("name", StringRule{MaxLength: 255}); ok {
		f.Name = &s
	}
	if n, ok := b.Int("age", 0, maxAge); ok {
		f.Age = &n
	}
	if s, ok := b.Choice("gender", genders...); ok {
		f.Gender = &s
	}
	if s, ok := b.String("address", StringRule{MaxLength: maxAddressLength}); ok {
		f.Address = &s
	}
	if s, ok := b.String("phone_number", StringRule{MaxLength: 15}); ok {
		if strings.IndexFunc(s, isDigit) < 0 {
			// Any punctuation is still taken, as the original took it; a number needs digits.
			b.Errors.Add("phone_number", msgPatientPhoneNoDigits)
		} else {
			f.PhoneNumber = &s
		}
	}
	return f
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// patientInvalid answers a body that failed validation, adding the uniqueness error DRF would
// report beside the others (phone_number is the last field, so the order stays the serializer's).
func (a *API) patientInvalid(ctx context.Context, scope store.PatientScope, b *Body, f store.PatientFields, id int64) error {
	if f.PhoneNumber != nil {
		taken, err := a.Store.PatientPhoneTaken(ctx, scope, *f.PhoneNumber, id)
		if err != nil {
			return err
		}
		if taken {
			b.Errors.Add("phone_number", msgPatientPhoneTaken)
		}
	}
	return b.Err()
}

// patientWriteErr maps a failed insert/update: the per-owner unique constraint is the real
// duplicate check, so two concurrent requests end as the same 400 as sequential ones.
func patientWriteErr(err error) error {
	if store.UniqueViolation(err) == store.PatientOwnerPhoneKey {
		return FieldError("phone_number", msgPatientPhoneTaken)
	}
	return storeErr(err)
}
