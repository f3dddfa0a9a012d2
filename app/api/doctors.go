package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// Doctors' messages, in the original's words.
const msgDoctorContactTaken = "doctor with this contact info already exists."

// doctorOrdering is the list's ordering allow-list (the store maps each to a column).
var doctorOrdering = []string{"id", "name", "specialization", "created_at", "updated_at"}

// doctorFields is the doctor serializer as OPTIONS describes it.
var doctorFields = fields{
	readOnlyID(),
	charField("name", "Name", 255),
	charField("specialization", "Specialization", 255),
	charField("contact_info", "Contact info", 255),
	timestamp("created_at", "Created at"),
	timestamp("updated_at", "Updated at"),
}

// doctorRoutes mounts the doctors directory, shared by all authenticated users. Writes follow the
// doctors.writes policy (any account, or administrators only).
func (a *API) doctorRoutes(r fiber.Router) {
	// The directory is no patient data: its changes are recorded, its reads are not.
	audited := auditSpec{Resource: "doctor"}
	a.mount(r, "/doctors", view{Name: "Doctor List", Get: a.listDoctors, Post: a.createDoctor, PostForm: doctorFields, Audit: audited})
	a.mount(r, "/doctors/:id", view{Name: "Doctor Instance", Get: a.getDoctor,
		Put: a.updateDoctor(false), Patch: a.updateDoctor(true), Delete: a.deleteDoctor, PutForm: doctorFields, Audit: audited})
}

func (a *API) listDoctors(c *fiber.Ctx) error {
	q, fe := ParseListQuery(c, doctorOrdering...)
	spec := queryText(c, fe, "specialization", 255)
	if err := fe.Err(); err != nil {
		return err
	}
	if spec != "" {
		q.Filters = map[string]string{"specialization": spec}
	}
	doctors, total, err := a.Store.ListDoctors(c.UserContext(), q)
	if err != nil {
		return err
	}
	SetListHeaders(c, q, total)
	return c.JSON(doctors)
}

func (a *API) getDoctor(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	d, err := a.Store.GetDoctor(c.UserContext(), id)
	if err != nil {
		return storeErr(err)
	}
	return c.JSON(d)
}

// msgDoctorAssignedByOthers answers a non-administrator's delete of a doctor another account assigned.
const msgDoctorAssignedByOthers = "This doctor is assigned to patients by other accounts; deleting the doctor would delete their assignments. Ask an administrator."

// mayWriteDoctors answers 403 when the doctors.writes policy keeps doctor writes to administrators
// and the caller is not one.
func (a *API) mayWriteDoctors(c *fiber.Ctx) error {
	p, err := a.policies(c)
	if err != nil {
		return err
	}
	if p.DoctorWritesAdminOnly() && !actor(c).Admin() {
		return forbidden()
	}
	return nil
}

func (a *API) createDoctor(c *fiber.Ctx) error {
	if err := a.mayWriteDoctors(c); err != nil {
		return err
	}
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	f := readDoctor(b)
	if b.Err() != nil {
		return a.doctorInvalid(c.UserContext(), b, f, 0)
	}
	var d store.Doctor
	err = a.change(c, fiber.StatusCreated, func(st *store.Store) (err error) {
		d, err = st.CreateDoctor(c.UserContext(), f)
		auditID(c, d.ID, 0)
		return err
	})
	if err != nil {
		return doctorWriteErr(err)
	}
	return c.Status(fiber.StatusCreated).JSON(d)
}

// updateDoctor is PUT (all fields required) or PATCH (any subset).
func (a *API) updateDoctor(partial bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// The policy first, as DRF checks permissions before it looks the record up.
		if err := a.mayWriteDoctors(c); err != nil {
			return err
		}
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		exists := func() (bool, error) { _, err := a.Store.GetDoctor(ctx, id); return existsErr(err) }
		b, err := ParseBody(c, partial)
		if err != nil {
			return notFoundFirst(err, exists)
		}
		f := readDoctor(b)
		if b.Err() != nil {
			if err := notFoundFirst(b.Err(), exists); !isInvalid(err) {
				return err
			}
			return a.doctorInvalid(ctx, b, f, id)
		}
		var d store.Doctor
		err = a.change(c, fiber.StatusOK, func(st *store.Store) (err error) {
			d, err = st.UpdateDoctor(ctx, id, f)
			return err
		})
		if err != nil {
			return doctorWriteErr(err)
		}
		return c.JSON(d)
	}
}

func (a *API) deleteDoctor(c *fiber.Ctx) error {
	if err := a.mayWriteDoctors(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	err = a.change(c, fiber.StatusNoContent, func(st *store.Store) error {
		return st.DeleteDoctor(c.UserContext(), actor(c), id)
	})
	if errors.Is(err, store.ErrDoctorAssignedByOthers) {
		return Detail(fiber.StatusConflict, msgDoctorAssignedByOthers)
	}
	if err != nil {
		return storeErr(err)
	}
	return noContent(c)
}

// readDoctor reads the doctor serializer's fields in its order: name, specialization, contact_info.
func readDoctor(b *Body) store.DoctorFields {
	var f store.DoctorFields
	rule := StringRule{MaxLength: 255}
	if s, ok := b.String("name", rule); ok {
		f.Name = &s
	}
	if s, ok := b.String("specialization", rule); ok {
		f.Specialization = &s
	}
	if s, ok := b.String("contact_info", rule); ok {
		f.ContactInfo = &s
	}
	return f
}

// doctorInvalid answers a body that failed validation, adding the uniqueness error DRF would
// report beside the others (contact_info is the last field, so the order stays the serializer's).
func (a *API) doctorInvalid(ctx context.Context, b *Body, f store.DoctorFields, id int64) error {
	if f.ContactInfo != nil {
		taken, err := a.Store.DoctorContactTaken(ctx, *f.ContactInfo, id)
		if err != nil {
			return err
		}
		if taken {
			b.Errors.Add("contact_info", msgDoctorContactTaken)
		}
	}
	return b.Err()
}

// doctorWriteErr maps a failed insert/update: the unique constraint is the real duplicate check,
// so two concurrent requests end as the same 400 as sequential ones.
func doctorWriteErr(err error) error {
	if store.UniqueViolation(err) == store.DoctorContactInfoKey {
		return FieldError("contact_info", msgDoctorContactTaken)
	}
	return storeErr(err)
}

// storeErr maps store.ErrNotFound to DRF's 404; anything else is unexpected (a logged 500).
func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return NotFound()
	}
	return err
}

// existsErr turns a lookup's error into an existence answer.
func existsErr(err error) (bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// notFoundFirst returns 404 when the record the request names does not exist, else err: DRF looks
// the record up before it reads the body, so a missing record wins over a bad body.
func notFoundFirst(err error, exists func() (bool, error)) error {
	ok, lookupErr := exists()
	if lookupErr != nil {
		return lookupErr
	}
	if !ok {
		return NotFound()
	}
	return err
}

// isInvalid reports whether err is a field-validation 400 (as opposed to a 404 or a 500).
func isInvalid(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	_, ok := e.Body.(*FieldErrors)
	return ok
}

// noContent is the 204 with an empty body of a successful DELETE.
func noContent(c *fiber.Ctx) error {
	c.Status(fiber.StatusNoContent)
	c.Response().ResetBody()
	return nil
}

// queryText reads an optional text query parameter for a filter: trimmed, at most max characters,
// valid UTF-8 without NUL (PostgreSQL would refuse it with an error, not a 400).
func queryText(c *fiber.Ctx, fe *FieldErrors, name string, max int) string {
	s := strings.TrimSpace(c.Query(name))
	switch {
	case s == "":
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		fe.Add(name, msgNullChars)
	case utf8.RuneCountInString(s) > max:
		fe.Add(name, fmt.Sprintf(msgMaxLength, max))
	default:
		return s
	}
	return ""
}
