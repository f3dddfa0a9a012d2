// Package api holds the HTTP handlers of the JSON API: request parsing and validation, DRF-style
// errors, pagination and authorisation. Handlers call the store; they never build SQL.
package api

import (
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/store"
)

// API holds what the handlers need.
type API struct {
	Store  *store.Store
	Auth   *auth.Service
	Config *config.Config
	Log    *slog.Logger
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

// Locals keys set by the authentication middleware.
const (
	localUserID   = "auth.user_id"
	localUsername = "auth.username"
)

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

// userID is the authenticated caller's id; only valid on a protected view.
func userID(c *fiber.Ctx) int64 {
	id, _ := c.Locals(localUserID).(int64)
	return id
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
