// Package api holds the HTTP handlers of the JSON API: request parsing and validation, DRF-style
// errors, pagination and authorisation. Handlers call the store; they never build SQL.
package api

import (
	"log/slog"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/audit"
	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// API holds what the handlers need.
type API struct {
	Store   *store.Store
	Auth    *auth.Service
	Config  *config.Config
	Log     *slog.Logger
	Version string // the release, written into backups ("" is "dev")
	Audit   *audit.Recorder
	// Send, when set, admits a view's built answer before its audit row is written (the server's
	// send budget); its error replaces the answer, and the row records that status.
	Send func(c *fiber.Ctx) error

	clinicSeen atomic.Bool // the clinic visibility the last request saw (likelyScope's guess)
}

// Register mounts every /api route on r. Routes match with and without the trailing slash
// (Fiber's non-strict routing), so every path works both ways for every method.
func (a *API) Register(r fiber.Router) {
	g := r.Group("/api")
	a.mount(g, "/", view{Name: "Api Root", Get: a.root})
	a.authRoutes(g)
	a.doctorRoutes(g)
	a.patientRoutes(g)
	a.assignmentRoutes(g)
	a.setupRoutes(g)
	a.adminRoutes(g)
	a.docsRoutes(g)
}

// root is the original's API root: absolute URLs of the three lists, from the request's host as
// DRF builds them.
func (a *API) root(c *fiber.Ctx) error {
	base := c.BaseURL() + "/api/"
	return c.JSON(struct {
		Doctors  string `json:"doctors"`
		Patients string `json:"patients"`
		Mappings string `json:"mappings"`
	}{base + "doctors/", base + "patients/", base + "mappings/"})
}

// localSession holds the authenticated *auth.Session (set by authenticate).
const localSession = "auth.session"

// LocalClientIP is the Locals key under which the server puts the client's address: the TCP
// peer, or behind server.trusted_proxies the right-most forwarded address that is not a proxy.
const LocalClientIP = "client.ip"

// ClientIP is the client's address for rate limits and logs (see LocalClientIP).
func ClientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(LocalClientIP).(string); ok {
		return ip
	}
	return c.IP()
}

// session is the authenticated caller's session; nil on a public view.
func session(c *fiber.Ctx) *auth.Session {
	s, _ := c.Locals(localSession).(*auth.Session)
	return s
}

// currentUser is the authenticated caller; only valid on a protected view.
func currentUser(c *fiber.Ctx) *store.User { return session(c).User }

// actor is who makes the request, as the store takes it; the zero Actor on a public view.
func actor(c *fiber.Ctx) store.Actor {
	s := session(c)
	if s == nil {
		return store.Actor{}
	}
	return store.Actor{UserID: s.User.ID, Role: s.User.Role, RequestID: c.GetRespHeader(fiber.HeaderXRequestID), Address: ClientIP(c)}
}

// policies are the clinic policies in force for this request: read with the caller's session on a
// protected view, from the database on a public one.
func (a *API) policies(c *fiber.Ctx) (policy.Policies, error) {
	if s := session(c); s != nil {
		return policy.Effective(a.Config, s.Settings), nil
	}
	stored, err := a.Store.Settings(c.UserContext())
	if err != nil {
		return policy.Policies{}, err
	}
	return policy.Effective(a.Config, stored), nil
}

// patientScope is the patients the caller may see and change: their own (owner visibility, the
// original's) or every patient (clinic visibility).
func (a *API) patientScope(c *fiber.Ctx) store.PatientScope {
	p, _ := a.policies(c) // a protected view: no query, no error
	a.clinicSeen.Store(p.Clinic())
	if p.Clinic() {
		return store.ClinicPatients(actor(c))
	}
	return store.OwnPatients(actor(c))
}

// client is who is asking, for the auth service.
func client(c *fiber.Ctx) auth.Client {
	return auth.Client{Address: ClientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// pathID parses the :id route parameter; anything but a positive int64 is DRF's 404.
func pathID(c *fiber.Ctx, name string) (int64, error) {
	s := c.Params(name)
	var n int64
	if s == "" || len(s) > 19 {
		return 0, NotFound()
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, NotFound()
		}
		n = n*10 + int64(r-'0')
		if n < 0 {
			return 0, NotFound()
		}
	}
	if n == 0 {
		return 0, NotFound()
	}
	return n, nil
}
