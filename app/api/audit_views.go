package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// auditUser names the actor of a public request (login, refresh, logout) once the token tells who.
func (a *API) auditUser(c *fiber.Ctx, id int64) {
	ev := auditEvent(c)
	if ev == nil || id <= 0 {
		return
	}
	ev.UserID = &id
	if ev.Username == "" {
		if u, err := a.Store.UserByID(c.UserContext(), id); err == nil {
			ev.Username = u.Username
		}
	}
}

// auditActions are the actions the trail records (the action filter's choices).
var auditActions = []string{"read", "list", "search", "create", "update", "delete", "assign", "unassign",
	"login", "login_failed", "logout", "refresh", "refresh_reuse_detected", "password_changed", "register",
	"setup", "logout_everywhere", "export"}

// parseAuditFilter reads ?actor= (a user id or a username) &patient= &action= &resource= &since=
// &until= (RFC 3339 times; until excluded).
func parseAuditFilter(c *fiber.Ctx, fe *FieldErrors) store.AuditFilter {
	var f store.AuditFilter
	// Text goes to PostgreSQL as it is: queryText refuses what it could not compare (not UTF-8, NUL).
	if s := queryText(c, fe, "actor", 150); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			f.UserID = n
		} else {
			f.Username = s
		}
	}
	if id := queryID(c, fe, "patient"); id != "" {
		f.PatientID, _ = strconv.ParseInt(id, 10, 64)
	}
	if s := c.Query("action"); s != "" {
		valid := false
		for _, v := range auditActions {
			valid = valid || s == v
		}
		if !valid {
			fe.Add("action", "Select a valid choice. That choice is not one of the available choices.")
		}
		f.Action = s
	}
	f.Resource = queryText(c, fe, "resource", 32)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.From}, {"until", &f.To}} {
		if s := c.Query(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				fe.Add(p.name, "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ssZ.")
			}
			*p.t = t
		}
	}
	return f
}

// listAudit is GET /api/admin/audit/: the trail, newest first, filtered and paginated.
func (a *API) listAudit(c *fiber.Ctx) error {
	q, fe := ParseListQuery(c)
	f := parseAuditFilter(c, fe)
	if err := fe.Err(); err != nil {
		return err
	}
	return a.auditPage(c, f, q)
}

func (a *API) auditPage(c *fiber.Ctx, f store.AuditFilter, q store.ListQuery) error {
	rows, total, err := a.Store.ListAudit(c.UserContext(), f, q)
	if err != nil {
		return err
	}
	auditCount(c, len(rows))
	SetListHeaders(c, q, total)
	return c.JSON(rows)
}

// patientAudit is GET /api/patients/{id}/audit/: who accessed one patient. Administrators see any
// patient's (a deleted one's too); with owner visibility a staff member sees their own patients';
// with clinic visibility it is for administrators only.
func (a *API) patientAudit(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	q, fe := ParseListQuery(c)
	if err := fe.Err(); err != nil {
		return err
	}
	if !actor(c).Admin() {
		p, _ := a.policies(c)
		if p.Clinic() {
			return forbidden()
		}
		ok, err := a.Store.PatientExists(c.UserContext(), store.OwnPatients(actor(c)), id)
		if err != nil {
			return err
		}
		if !ok {
			return NotFound()
		}
	}
	return a.auditPage(c, store.AuditFilter{PatientID: id}, q)
}

// auditCSVHeader is the export's first line.
var auditCSVHeader = []string{"seq", "at", "user_id", "username", "action", "resource", "resource_id", "patient_id",
	"count", "filters", "status", "client_address", "request_id", "user_agent"}

// exportAudit is GET /api/admin/audit/export/: every row matching the filters, newest first, as
// CSV, streamed in chunks.
func (a *API) exportAudit(c *fiber.Ctx) error {
	fe := &FieldErrors{}
	f := parseAuditFilter(c, fe)
	if err := fe.Err(); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-`+time.Now().UTC().Format("20060102T150405Z")+`.csv"`)
	st, log := a.Store, a.Log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		// The request's context ends when the handler returns: the stream has its own.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := writeAuditCSV(w, func(fn func(store.AuditEvent) error) error { return st.AuditRows(ctx, f, fn) }); err != nil {
			log.Error("audit export cut short", "error", err)
		}
	})
	return nil
}

// auditExportIncomplete ends an export that stopped at an error. The status and headers are sent
// with the first rows, so only the body can say it: without this line a cut-off export would look
// like one with fewer rows.
const auditExportIncomplete = "# INCOMPLETE: the export stopped at an error (the server log has it); export again"

// writeAuditCSV writes the header, then each row rows gives, to w; it ends with
// auditExportIncomplete when rows fails.
func writeAuditCSV(w io.Writer, rows func(fn func(store.AuditEvent) error) error) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(auditCSVHeader)
	err := rows(func(e store.AuditEvent) error {
		rec := []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), optInt(e.UserID), e.Username,
			e.Action, e.Resource, e.ResourceID, optInt(e.PatientID), "", strings.Join(e.Filters, " "),
			strconv.Itoa(e.Status), e.Address, e.RequestID, e.UserAgent}
		if e.Count != nil {
			rec[8] = strconv.Itoa(*e.Count)
		}
		for i, v := range rec { // no cell a spreadsheet would run as a formula
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				rec[i] = "'" + v
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		_ = cw.Write([]string{auditExportIncomplete})
	}
	cw.Flush()
	return err
}

func optInt(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}
