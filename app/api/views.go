package api

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// NotAllowedRoute names the routes that only answer 405 (see mount), so a test comparing the
// server's routes with the OpenAPI document can leave them out.
const NotAllowedRoute = "api.method-not-allowed"

// view is one path of the API, answered the way a DRF view answers it:
//   - every response carries DRF's Allow header (its methods in DRF's order, HEAD and OPTIONS included);
//   - a protected view authenticates before it looks at the method, so a wrong method without a
//     token is 401 and with one 405, as DRF checks permissions before dispatching; the role it
//     requires is checked right after authentication (401 before 403 before 405);
//   - OPTIONS answers DRF's metadata (SimpleMetadata), with the writable fields of its actions.
type view struct {
	Name   string // DRF's view name, e.g. "Doctor List"
	Public bool   // no token needed (registration, login...)
	// Role is the role the view requires: "" any active account, store.RoleAdmin administrators
	// only (403 for the others).
	Role store.Role
	// PasswordPending lets an account whose password an administrator set reach the view (its own
	// account, password and sessions); every other view answers it 403 until it chose its own.
	PasswordPending bool
	Get             fiber.Handler
	Post            fiber.Handler
	Put             fiber.Handler
	Patch           fiber.Handler
	Delete          fiber.Handler
	Audit           auditSpec // what the audit trail records of it
	// Read names the read a GET will make for the token's account, which the session check then
	// answers in its own statement (see sessionread.go); the handler takes it with readInScope.
	Read     func(c *fiber.Ctx, userID int64) store.SessionRead
	PostForm fields // what OPTIONS shows under actions.POST
	PutForm  fields // what OPTIONS shows under actions.PUT
}

// allowed lists the view's methods in DRF's order (its http_method_names).
func (v *view) allowed() []string {
	var m []string
	for _, h := range []struct {
		method string
		h      fiber.Handler
	}{{"GET", v.Get}, {"POST", v.Post}, {"PUT", v.Put}, {"PATCH", v.Patch}, {"DELETE", v.Delete}} {
		if h.h != nil {
			m = append(m, h.method)
		}
	}
	if v.Get != nil {
		m = append(m, "HEAD")
	}
	return append(m, "OPTIONS")
}

// mount registers v at path on r: its handlers, OPTIONS, and a 405 for every other method, each
// behind the Allow header and (unless v.Public) authentication.
func (a *API) mount(r fiber.Router, path string, v view) {
	if v.Read != nil && (v.Role != "" || v.PasswordPending) {
		// The session statement's read is gated on what every protected view asks (see
		// store.SessionRead), not on a view's role or password exemption.
		panic("api: view " + v.Name + ": Read needs a view open to every role, without PasswordPending")
	}
	allow := strings.Join(v.allowed(), ", ")
	wrap := func(h fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderAllow, allow)
			if !v.Public {
				var read func(userID int64) store.SessionRead
				if v.Read != nil && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) {
					read = func(userID int64) store.SessionRead { return v.Read(c, userID) }
				}
				if err := a.authenticate(c, read); err != nil {
					return err
				}
				if err := authorize(c, &v); err != nil {
					a.auditEnd(c, a.auditBegin(c, &v), err)
					return err
				}
			}
			ev := a.auditBegin(c, &v)
			err := refuseCrossSiteForm(c)
			if err == nil {
				err = h(c)
			}
			if err == nil && a.Send != nil {
				err = a.Send(c)
			}
			a.auditEnd(c, ev, err)
			return err
		}
	}
	handlers := map[string]fiber.Handler{
		fiber.MethodPost: v.Post, fiber.MethodPut: v.Put, fiber.MethodPatch: v.Patch, fiber.MethodDelete: v.Delete,
	}
	if v.Get != nil {
		r.Get(path, wrap(v.Get)) // GET and HEAD
	}
	r.Options(path, wrap(v.metadata))
	for _, m := range []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodDelete, fiber.MethodTrace, fiber.MethodConnect} {
		if h := handlers[m]; h != nil {
			r.Add(m, path, wrap(h))
		} else if (m != fiber.MethodGet && m != fiber.MethodHead) || v.Get == nil {
			r.Add(m, path, wrap(methodNotAllowed)).Name(NotAllowedRoute)
		}
	}
}

// methodNotAllowed answers the methods a view does not offer.
func methodNotAllowed(c *fiber.Ctx) error { return notAllowed(c) }

// metadata answers OPTIONS with DRF's SimpleMetadata: the view's name, what it renders and parses,
// and the fields each write action takes.
func (v *view) metadata(c *fiber.Ctx) error {
	type actions struct {
		Post fields `json:"POST,omitempty"`
		Put  fields `json:"PUT,omitempty"`
	}
	body := struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Renders     []string `json:"renders"`
		Parses      []string `json:"parses"`
		Actions     *actions `json:"actions,omitempty"`
	}{
		Name:    v.Name,
		Renders: []string{fiber.MIMEApplicationJSON},
		Parses:  []string{fiber.MIMEApplicationJSON, fiber.MIMEApplicationForm, fiber.MIMEMultipartForm},
		Actions: &actions{},
	}
	if v.Post != nil {
		body.Actions.Post = v.PostForm
	}
	if v.Put != nil {
		body.Actions.Put = v.PutForm
	}
	if body.Actions.Post == nil && body.Actions.Put == nil {
		body.Actions = nil
	}
	return c.JSON(body)
}

// field is one serializer field as DRF's SimpleMetadata describes it.
type field struct {
	Name      string   `json:"-"`
	Type      string   `json:"type"` // integer, string, email, choice, datetime, field
	Required  bool     `json:"required"`
	ReadOnly  bool     `json:"read_only"`
	Label     string   `json:"label"`
	MaxLength int      `json:"max_length,omitempty"`
	MinValue  *int64   `json:"min_value,omitempty"`
	MaxValue  *int64   `json:"max_value,omitempty"`
	Choices   []choice `json:"choices,omitempty"`
}

type choice struct {
	Value       string `json:"value"`
	DisplayName string `json:"display_name"`
}

// fields keeps the serializer's field order, which a JSON object from a Go map would lose.
type fields []field

// MarshalJSON writes the fields as one object in their order.
func (fs fields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		info, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(info)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Field describers, named after the DRF fields they stand for.
func readOnlyID() field { return field{Name: "id", Type: "integer", ReadOnly: true, Label: "ID"} }

func charField(name, label string, maxLength int) field {
	return field{Name: name, Type: "string", Required: true, Label: label, MaxLength: maxLength}
}

func timestamp(name, label string) field {
	return field{Name: name, Type: "datetime", ReadOnly: true, Label: label}
}

func ptr(n int64) *int64 { return &n }

// msgCrossSiteForm is the 403 of a form posted from another site (DRF's CSRF failures read "CSRF
// Failed: ...").
const msgCrossSiteForm = "CSRF Failed: Forms posted from another site are refused; send JSON with Content-Type: application/json."

// refuseCrossSiteForm answers 403 to a POST that any web page could make a visitor's browser send
// to us without asking first (a CORS "simple" request: an HTML form, text/plain, or no content
// type): a page elsewhere must not register accounts or spend the clinic's login attempts through
// a staff member's browser. Browsers say where such a request comes from (Sec-Fetch-Site, else
// Origin); clients that say nothing, like the original's `curl -d` users, are served as before, and
// so are JSON bodies, which a browser sends cross-site only after a CORS preflight we never allow.
func refuseCrossSiteForm(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodPost || !simpleContentType(c.Get(fiber.HeaderContentType)) {
		return nil
	}
	switch c.Get("Sec-Fetch-Site") {
	case "same-origin", "none": // "none": the user's own action (address bar, bookmark)
		return nil
	case "":
		if origin := c.Get(fiber.HeaderOrigin); origin == "" || sameOrigin(origin, c.Hostname()) {
			return nil
		}
	}
	return Detail(fiber.StatusForbidden, msgCrossSiteForm)
}

// simpleContentType reports whether a browser may send a body of this type to another site
// without a preflight: none, a form, multipart or text/plain (the Fetch standard's safelist).
func simpleContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return true // a browser checks the essence only; an unparsable type is refused later (415)
	}
	switch mt {
	case fiber.MIMEApplicationForm, fiber.MIMEMultipartForm, fiber.MIMETextPlain:
		return true
	}
	return false
}

// sameOrigin reports whether the Origin header names the host the request was sent to ("null",
// which sandboxed pages send, never does).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(host, u.Scheme))
}

func withoutDefaultPort(host, scheme string) string {
	if scheme == "http" {
		return strings.TrimSuffix(host, ":80")
	}
	return strings.TrimSuffix(host, ":443")
}
