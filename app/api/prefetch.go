package api

import (
	"context"

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
	raw, err := bearerToken(c)
	if err != nil {
		return 0, false
	}
	return a.Auth.TokenUser(raw)
}

// likelyScope is userID's patient scope if the clinic's visibility is what the last request saw.
func (a *API) likelyScope(userID int64) store.PatientScope {
	if a.clinicSeen.Load() {
		return store.ClinicPatients(store.Actor{UserID: userID})
	}
	return store.OwnPatients(store.Actor{UserID: userID})
}

// prefetchByID is a view's Prefetch for a read of the :id in the path: begin starts it.
func prefetchByID[V any](a *API, begin func(scope store.PatientScope, id int64) func(ctx context.Context) (V, error)) func(c *fiber.Ctx, userID int64) {
	return func(c *fiber.Ctx, userID int64) {
		if id, err := pathID(c, "id"); err == nil {
			scope := a.likelyScope(userID)
			c.Locals(localPrefetch, prefetched[V]{scope, begin(scope, id)})
		}
	}
}

// readInScope answers read's question in scope: from the read prefetched for this request when it
// was made in that very scope, else by running read now.
func readInScope[V any](c *fiber.Ctx, scope store.PatientScope, read func(ctx context.Context) (V, error)) (V, error) {
	if pf, ok := c.Locals(localPrefetch).(prefetched[V]); ok && pf.scope == scope {
		return pf.wait(c.UserContext())
	}
	return read(c.UserContext())
}
