package api

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// Prefetch: a protected GET view may start its read beside the request's session check instead of
// after it (view.Prefetch), so a request waits for one batch of queries rather than two in a row.
// The read takes the scope the caller most likely has (the token's account; the clinic visibility
// the last request saw). The handler uses its answer only when the session check passed (the
// handler runs only then) and the scope it computes from the session is the very one the read
// took; otherwise it reads again. So an answer still comes only after its request's session check,
// from a query that started after the request: only the waiting overlaps. A read whose request
// then fails authentication is dropped unseen.

const localPrefetch = "api.prefetch"

// prefetched is a read started in scope; wait is its answer.
type prefetched[V any] struct {
	scope store.PatientScope
	wait  func(ctx context.Context) (V, error)
}

// tokenUser is the account the request's bearer access token names, when it is a valid one.
func (a *API) tokenUser(c *fiber.Ctx) (int64, bool) {
	parts := strings.Fields(c.Get(fiber.HeaderAuthorization))
	if len(parts) != 2 || parts[0] != "Bearer" {
		return 0, false
	}
	return a.Auth.TokenUser(parts[1])
}

// likelyScope is userID's patient scope if the clinic's visibility is what the last request saw.
func (a *API) likelyScope(userID int64) store.PatientScope {
	if a.clinicSeen.Load() {
		return store.ClinicPatients(store.Actor{UserID: userID})
	}
	return store.OwnPatients(store.Actor{UserID: userID})
}

// prefetchPatient starts GET /patients/{id}/'s read.
func (a *API) prefetchPatient(c *fiber.Ctx, userID int64) {
	if id, err := pathID(c, "id"); err == nil {
		scope := a.likelyScope(userID)
		c.Locals(localPrefetch, prefetched[store.Patient]{scope, a.Store.BeginGetPatient(scope, id)})
	}
}

// prefetchPatientDoctors starts GET /patients/{id}/doctors/'s read.
func (a *API) prefetchPatientDoctors(c *fiber.Ctx, userID int64) {
	if id, err := pathID(c, "id"); err == nil {
		scope := a.likelyScope(userID)
		c.Locals(localPrefetch, prefetched[[]store.Doctor]{scope, a.Store.BeginPatientDoctors(scope, id)})
	}
}

// takePrefetch returns the wait of the read prefetched for this request when it was made in
// scope (false: none was, or in another scope; read now).
func takePrefetch[V any](c *fiber.Ctx, scope store.PatientScope) (func(ctx context.Context) (V, error), bool) {
	pf, ok := c.Locals(localPrefetch).(prefetched[V])
	if !ok || pf.scope != scope {
		return nil, false
	}
	return pf.wait, true
}
