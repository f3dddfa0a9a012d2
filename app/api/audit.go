package api

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/store"
)

// auditSpec says what mount records in the audit trail for a view: one row per request of an
// audited method (OPTIONS and a wrong method's 405 never; a missing token's 401 neither, the
// request log has those). Changes are written in their own transaction (change); reads, and
// requests that changed nothing, through the asynchronous recorder.
type auditSpec struct {
	Resource string            // "" : not audited
	Reads    bool              // GET (and HEAD) is recorded too
	Actions  map[string]string // method → action, instead of read/list/search/create/update/delete
	Patient  bool              // the :id parameter is a patient's id (patient_id, for the filters)
}

// Locals of the audit trail.
const (
	localAudit   = "audit.event"   // *store.AuditEvent of this request
	localAudited = "audit.written" // its row was written with the change (change)
)

// maxAuditText bounds the free text a request brings into a row (user agent, path parameter).
const maxAuditText = 256

// auditBegin makes the request's audit row, or returns nil when the view or method is not audited.
func (a *API) auditBegin(c *fiber.Ctx, v *view) *store.AuditEvent {
	m := c.Method()
	if m == fiber.MethodHead {
		m = fiber.MethodGet
	}
	if v.Audit.Resource == "" || v.handler(m) == nil || (m == fiber.MethodGet && (!v.Audit.Reads || !a.Config.Audit.Reads)) {
		return nil
	}
	// Fiber's strings point into buffers it reuses once the request ends, and reads are written
	// later, in batches: every string taken from the request is copied (clip copies).
	ev := &store.AuditEvent{At: time.Now(), Resource: v.Audit.Resource, Address: strings.Clone(ClientIP(c)),
		RequestID: clip(c.GetRespHeader(fiber.HeaderXRequestID)), UserAgent: clip(c.Get(fiber.HeaderUserAgent))}
	if s := session(c); s != nil {
		id := s.User.ID
		ev.UserID, ev.Username = &id, s.User.Username
	}
	params := c.Route().Params
	if len(params) > 0 {
		ev.ResourceID = clip(c.Params(params[0]))
		if v.Audit.Patient {
			if id, err := strconv.ParseInt(ev.ResourceID, 10, 64); err == nil && id > 0 {
				ev.PatientID = &id
			}
		}
	}
	switch m {
	case fiber.MethodGet:
		ev.Action = "read"
		if len(params) == 0 {
			ev.Action = "list"
			if c.Query("search") != "" {
				ev.Action = "search"
			}
			// The names of the filters given, never their values.
			c.Context().QueryArgs().VisitAll(func(k, val []byte) {
				name := string(k)
				if len(val) > 0 && name != "limit" && name != "offset" && len(name) <= 32 && !slices.Contains(ev.Filters, name) {
					ev.Filters = append(ev.Filters, name)
				}
			})
			slices.Sort(ev.Filters)
		}
	case fiber.MethodPost:
		ev.Action = "create"
	case fiber.MethodPut, fiber.MethodPatch:
		ev.Action = "update"
	case fiber.MethodDelete:
		ev.Action = "delete"
	}
	if act := v.Audit.Actions[m]; act != "" {
		ev.Action = act
	}
	c.Locals(localAudit, ev)
	return ev
}

// auditEnd records the request's row with its outcome, unless change wrote it already.
func (a *API) auditEnd(c *fiber.Ctx, ev *store.AuditEvent, err error) {
	if ev == nil || c.Locals(localAudited) != nil {
		return
	}
	ev.Status = statusOf(c, err)
	if ev.Action == "login" && ev.Status != fiber.StatusOK {
		ev.Action = "login_failed"
	}
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || ev.Status >= 400 {
		a.Audit.Record(c.UserContext(), *ev)
		return
	}
	// A change whose row was not written with it (a refresh presented again after its login was
	// revoked, say): its row right after.
	if werr := a.Store.AppendAudit(c.UserContext(), *ev); werr != nil {
		a.Log.Error("audit: a change's record could not be written", "action", ev.Action, "resource", ev.Resource,
			"request_id", ev.RequestID, "error", werr)
	}
}

// auditEvent is the request's audit row (nil when it is not audited); handlers add what only they
// know (a new record's id, a list's row count, the actor of a login).
func auditEvent(c *fiber.Ctx) *store.AuditEvent {
	ev, _ := c.Locals(localAudit).(*store.AuditEvent)
	return ev
}

// auditID sets the row's resource id (and patient id for a patient), e.g. of a record just made.
func auditID(c *fiber.Ctx, id int64, patient int64) {
	if ev := auditEvent(c); ev != nil {
		if id > 0 {
			ev.ResourceID = strconv.FormatInt(id, 10)
		}
		if patient > 0 {
			ev.PatientID = &patient
		}
	}
}

// auditCount sets how many rows a list returned.
func auditCount(c *fiber.Ctx, n int) {
	if ev := auditEvent(c); ev != nil {
		ev.Count = &n
	}
}

// change runs fn, the request's change, in one transaction with its audit row (status is the
// answer it will get): the change never commits without its record.
func (a *API) change(c *fiber.Ctx, status int, fn func(st *store.Store) error) error {
	ev := auditEvent(c)
	if ev == nil {
		return fn(a.Store)
	}
	err := a.Store.InTx(c.UserContext(), func(tx *store.Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		e := *ev
		e.Status = status
		return tx.AppendAudit(c.UserContext(), e)
	})
	if err == nil {
		c.Locals(localAudited, true)
	}
	return err
}

// changeOne is change for a change made by one statement that writes its audit row itself (the
// store's methods that take an *AuditEvent): fn gets the row to write (nil when the request is not
// audited), and no transaction is opened, which saves three round trips.
func (a *API) changeOne(c *fiber.Ctx, status int, fn func(row *store.AuditEvent) error) error {
	ev := auditEvent(c)
	if ev == nil {
		return fn(nil)
	}
	e := *ev
	e.Status = status
	err := fn(&e)
	if err == nil {
		c.Locals(localAudited, true)
	}
	return err
}

// authChange runs op, an auth operation (login, refresh, logout, password change), with a context
// that makes its change write this request's audit row (with status) in the change's own
// transaction (auth.WithAudit). When op fails, or changed nothing, auditEnd writes the row.
func (a *API) authChange(c *fiber.Ctx, status int, op func(ctx context.Context) error) error {
	ev := auditEvent(c)
	if ev == nil {
		return op(c.UserContext())
	}
	wrote := false
	ctx := auth.WithAudit(c.UserContext(), func(tx *store.Store, userID int64) error {
		a.auditUser(c, userID)
		e := *ev
		e.Status = status
		if err := tx.AppendAudit(c.UserContext(), e); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	err := op(ctx)
	if err == nil && wrote {
		c.Locals(localAudited, true)
	}
	return err
}

// statusOf is the status the request is answered with: the handler's error's, else the response's.
func statusOf(c *fiber.Ctx, err error) int {
	if err == nil {
		return c.Response().StatusCode()
	}
	var e *Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
		return e.Status
	case errors.As(err, &fe):
		return fe.Code
	}
	return fiber.StatusInternalServerError
}

// clip bounds free text taken from a request.
// clip bounds a string from the request and copies it (Fiber reuses the request's memory).
func clip(s string) string {
	return strings.Clone(store.ClipText(s, maxAuditText))
}

// handler is v's handler of method m (GET for HEAD), nil when it has none.
func (v *view) handler(m string) fiber.Handler {
	switch m {
	case fiber.MethodGet, fiber.MethodHead:
		return v.Get
	case fiber.MethodPost:
		return v.Post
	case fiber.MethodPut:
		return v.Put
	case fiber.MethodPatch:
		return v.Patch
	case fiber.MethodDelete:
		return v.Delete
	}
	return nil
}
