package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// A protected GET view may name the read it will make (view.Read), so that the request's session
// check answers it in its own statement: one round trip instead of two in a row. PostgreSQL runs
// the read only when the login is live, the account active and not bound to change its password,
// and the scope is the account's own (store.SessionRead), so a refused token reads nothing.
// The read takes the scope the caller most likely has (the token's account; the clinic visibility
// the last request saw). The handler uses its answer only when the scope it computes from the
// session is the very one the read took; otherwise it reads again.

// readByID is a view's Read for the :id in the path, of kind.
func readByID(a *API, kind store.ReadKind) func(c *fiber.Ctx, userID int64) store.SessionRead {
	return func(c *fiber.Ctx, userID int64) store.SessionRead {
		id, err := pathID(c, "id")
		if err != nil {
			return store.SessionRead{}
		}
		return store.SessionRead{Kind: kind, Scope: a.likelyScope(userID), ID: id}
	}
}

// likelyScope is userID's patient scope if the clinic's visibility is what the last request saw.
func (a *API) likelyScope(userID int64) store.PatientScope {
	if a.clinicSeen.Load() {
		return store.ClinicPatients(store.Actor{UserID: userID})
	}
	return store.OwnPatients(store.Actor{UserID: userID})
}

// readInScope answers the read of kind for patient id in scope: with the answer the session check
// brought when it was asked that very read, else by running read now.
func readInScope[V any](c *fiber.Ctx, kind store.ReadKind, scope store.PatientScope, id int64, read func(ctx context.Context) (V, error)) (V, error) {
	if ans := session(c).Read; ans.Read == (store.SessionRead{Kind: kind, Scope: scope, ID: id}) {
		if ans.Err != nil {
			var zero V
			return zero, ans.Err
		}
		if v, ok := ans.Value.(V); ok {
			return v, nil
		}
	}
	return read(c.UserContext())
}
