package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// msgUniquePair is DRF's UniqueTogetherValidator message for the assignment's pair.
const msgUniquePair = "The fields patient, doctor must make a unique set."

// assignmentOrdering is the list's ordering allow-list (the store maps each to a column).
var assignmentOrdering = []string{"id", "assigned_at"}

// assignmentFields is the mapping serializer as OPTIONS describes it; patient and doctor are
// primary keys (DRF's PrimaryKeyRelatedField, whose choices it does not list).
var assignmentFields = fields{
	readOnlyID(),
	{Name: "patient", Type: "field", Required: true, Label: "Patient"},
	{Name: "doctor", Type: "field", Required: true, Label: "Doctor"},
	{Name: "patient_name", Type: "string", ReadOnly: true, Label: "Patient name"},
	{Name: "doctor_name", Type: "string", ReadOnly: true, Label: "Doctor name"},
	timestamp("assigned_at", "Assigned at"),
}

// assignmentRoutes mounts /mappings: a doctor assigned to a patient. Only the assignments of the
// patients the caller may see (patientScope) can be seen or changed.
func (a *API) assignmentRoutes(r fiber.Router) {
	audited := auditSpec{Resource: "assignment", Reads: true, Actions: map[string]string{
		fiber.MethodPost: "assign", fiber.MethodDelete: "unassign"}}
	a.mount(r, "/mappings", view{Name: "Mapping List", Get: a.listAssignments, Post: a.createAssignment, PostForm: assignmentFields, Audit: audited})
	a.mount(r, "/mappings/:id", view{Name: "Mapping Instance", Get: a.getAssignment,
		Put: a.updateAssignment(false), Patch: a.updateAssignment(true), Delete: a.deleteAssignment, PutForm: assignmentFields, Audit: audited})
}

func (a *API) listAssignments(c *fiber.Ctx) error {
	q, fe := ParseListQuery(c, assignmentOrdering...)
	for _, name := range []string{"patient", "doctor"} {
		if id := queryID(c, fe, name); id != "" {
			if q.Filters == nil {
				q.Filters = map[string]string{}
			}
			q.Filters[name] = id
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	list, total, err := a.Store.ListAssignments(c.UserContext(), a.patientScope(c), q)
	if err != nil {
		return err
	}
	auditCount(c, len(list))
	SetListHeaders(c, q, total)
	return c.JSON(list)
}

// queryID reads an optional id filter: a positive 64-bit integer, returned in canonical decimal
// form ("" when absent). Anything else is a field error naming the parameter, never a 500.
func queryID(c *fiber.Ctx, fe *FieldErrors, name string) string {
	s := c.Query(name)
	if s == "" {
		return ""
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		fe.Add(name, msgInteger)
	case n < 1:
		fe.Add(name, fmt.Sprintf(msgMinValue, 1))
	default:
		return strconv.FormatInt(n, 10)
	}
	return ""
}

func (a *API) getAssignment(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	m, err := a.Store.GetAssignment(c.UserContext(), a.patientScope(c), id)
	if err != nil {
		return storeErr(err)
	}
	auditID(c, 0, m.Patient)
	return c.JSON(m)
}

// assignmentRefs are the patient and doctor ids read from a body; ok is false for a field that is
// absent (PATCH) or invalid.
type assignmentRefs struct {
	patient, doctor     int64
	patientOK, doctorOK bool
}

// readAssignment reads the serializer's fields in its order: patient, doctor.
func readAssignment(b *Body) assignmentRefs {
	var r assignmentRefs
	r.patient, r.patientOK = b.PK("patient")
	r.doctor, r.doctorOK = b.PK("doctor")
	return r
}

func (a *API) createAssignment(c *fiber.Ctx) error {
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	ctx, scope := c.UserContext(), a.patientScope(c)
	r := readAssignment(b)
	if b.Err() != nil {
		return a.assignmentInvalid(ctx, scope, b, r, nil)
	}
	var m store.Assignment
	err = a.change(c, fiber.StatusCreated, func(st *store.Store) (err error) {
		m, err = st.CreateAssignment(ctx, scope, r.patient, r.doctor)
		auditID(c, m.ID, m.Patient)
		return err
	})
	if err != nil {
		return a.assignmentWriteErr(ctx, scope, b, r, err)
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

// updateAssignment is PUT (both fields required) or PATCH (either) of an assignment of one of the
// patients the caller may see; the new patient must be one too.
func (a *API) updateAssignment(partial bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		ctx, scope := c.UserContext(), a.patientScope(c)
		exists := func() (bool, error) { _, err := a.Store.GetAssignment(ctx, scope, id); return existsErr(err) }
		b, err := ParseBody(c, partial)
		if err != nil {
			return notFoundFirst(err, exists)
		}
		r := readAssignment(b)
		if b.Err() != nil {
			if err := notFoundFirst(b.Err(), exists); !isInvalid(err) {
				return err
			}
			return a.assignmentInvalid(ctx, scope, b, r, nil)
		}
		var patient, doctor *int64
		if r.patientOK {
			patient = &r.patient
		}
		if r.doctorOK {
			doctor = &r.doctor
		}
		var m store.Assignment
		err = a.change(c, fiber.StatusOK, func(st *store.Store) (err error) {
			m, err = st.UpdateAssignment(ctx, scope, id, patient, doctor)
			auditID(c, 0, m.Patient)
			return err
		})
		if err != nil {
			return a.assignmentWriteErr(ctx, scope, b, r, err)
		}
		return c.JSON(m)
	}
}

func (a *API) deleteAssignment(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := a.change(c, fiber.StatusNoContent, func(st *store.Store) error {
		return st.DeleteAssignment(c.UserContext(), a.patientScope(c), id)
	}); err != nil {
		return storeErr(err)
	}
	return noContent(c)
}

// assignmentWriteErr maps a failed create/update: references the caller may not use are DRF's
// "Invalid pk" (someone else's patient looks exactly like a missing one), an existing pair is the
// unique-together error, whether found sequentially or by the constraint in a race.
func (a *API) assignmentWriteErr(ctx context.Context, scope store.PatientScope, b *Body, r assignmentRefs, err error) error {
	var ref *store.RefError
	switch {
	case errors.As(err, &ref):
		return a.assignmentInvalid(ctx, scope, b, r, ref)
	case store.UniqueViolation(err) == store.AssignmentPairKey:
		return FieldError("non_field_errors", msgUniquePair)
	default:
		return storeErr(err)
	}
}

// assignmentInvalid builds the 400 for the body's fields in serializer order: each field's own
// error, or "Invalid pk" for a well-formed id the caller may not use. ref says which those are
// when the write already found out; otherwise (another field failed) they are looked up here.
func (a *API) assignmentInvalid(ctx context.Context, scope store.PatientScope, b *Body, r assignmentRefs, ref *store.RefError) error {
	if ref == nil {
		ref = &store.RefError{}
		if r.patientOK {
			ok, err := a.Store.PatientExists(ctx, scope, r.patient)
			if err != nil {
				return err
			}
			ref.Patient = !ok
		}
		if r.doctorOK {
			ok, err := a.Store.DoctorExists(ctx, r.doctor)
			if err != nil {
				return err
			}
			ref.Doctor = !ok
		}
	}
	fe := &FieldErrors{}
	field := func(name string, id int64, ok, missing bool) {
		switch {
		case b.Errors.Has(name):
			for _, m := range b.Errors.Messages(name) {
				fe.Add(name, m)
			}
		case ok && missing:
			fe.Add(name, "Invalid pk \""+strconv.FormatInt(id, 10)+"\" - object does not exist.")
		}
	}
	field("patient", r.patient, r.patientOK, ref.Patient)
	field("doctor", r.doctor, r.doctorOK, ref.Doctor)
	if fe.Empty() {
		// Unreachable in practice: a RefError always names a field the body carried.
		return NotFound()
	}
	return Invalid(fe)
}
