package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/store"
)

// Setup messages.
const (
	msgSetupDone  = "Setup is finished: an administrator exists. Sign in, or ask an administrator for an account."
	msgSetupToken = "The setup token is not valid: use the one the server printed to its console or log at its last start."
	msgSetupOK    = "Administrator created."
)

// setupRoutes mounts /api/setup: the first-run screen's state and the creation of the first
// administrator with the one-time setup token the server prints while none exists.
func (a *API) setupRoutes(r fiber.Router) {
	a.mount(r, "/setup", view{Audit: auditSpec{Resource: "user", Actions: map[string]string{fiber.MethodPost: "setup"}}, Name: "Setup", Public: true, Get: a.setupState, Post: a.setup, PostForm: fields{
		charField("token", "Token", 0),
		charField("username", "Username", auth.MaxUsernameLength),
		{Name: "email", Type: "email", Required: true, Label: "Email address"},
		charField("password", "Password", 0),
	}})
}

// setupState is GET /api/setup/: {"required": true} while no administrator exists (the UI shows the
// first-run screen), and the registration policy (whether to offer sign-up).
func (a *API) setupState(c *fiber.Ctx) error {
	exists, err := a.Store.ActiveAdminExists(c.UserContext())
	if err != nil {
		return err
	}
	p, err := a.policies(c)
	if err != nil {
		return err
	}
	return c.JSON(struct {
		Required     bool   `json:"required"`
		Registration string `json:"registration"`
	}{!exists, p.Registration})
}

// setup is POST /api/setup/ {token, username, email, password}: creates the first administrator,
// only while no active administrator exists and only with a setup token the server printed; the
// tokens are deleted with it, so it works once. Rate-limited per client address like registration.
// The answer carries the new administrator's login: {"message", "user", "refresh", "access"}.
func (a *API) setup(c *fiber.Ctx) error {
	ctx := c.UserContext()
	rl := a.Config.RateLimit
	if err := a.Auth.Throttle(ctx, "setup:addr:"+auth.AddressGroup(ClientIP(c)), rl.RegisterPerAddress, rl.RegisterWindow); err != nil {
		return authError(err)
	}
	if exists, err := a.Store.ActiveAdminExists(ctx); err != nil {
		return err
	} else if exists {
		return Detail(fiber.StatusConflict, msgSetupDone)
	}
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	token, ok := b.String("token", StringRule{})
	if !ok {
		return b.Err()
	}
	hashes, err := a.Store.SetupTokenHashes(ctx)
	if err != nil {
		return err
	}
	if auth.CheckSetupToken(hashes, token) != nil {
		a.Log.Warn("setup: a wrong setup token was presented", "client", ClientIP(c))
		return Detail(fiber.StatusForbidden, msgSetupToken)
	}
	in, err := a.readAccount(ctx, b, "")
	if err != nil {
		return err
	}
	hash, err := a.finishAccount(ctx, b, in, true)
	if err != nil {
		return err
	}
	// The administrator, its first login and the audit row: one transaction.
	var u *store.User
	var pair auth.Pair
	err = a.change(c, fiber.StatusCreated, func(st *store.Store) (err error) {
		u, err = st.CreateFirstAdmin(ctx, store.NewUser{Username: in.username, Email: in.email, PasswordHash: hash},
			func(hashes [][]byte) error { return auth.CheckSetupToken(hashes, token) })
		if err != nil {
			return err
		}
		auditID(c, u.ID, 0)
		if ev := auditEvent(c); ev != nil { // not committed yet: auditUser could not read it
			id := u.ID
			ev.UserID, ev.Username = &id, u.Username
		}
		pair, err = a.Auth.StartLogin(ctx, st, u.ID, client(c))
		return err
	})
	switch {
	case errors.Is(err, store.ErrAdminExists):
		return Detail(fiber.StatusConflict, msgSetupDone)
	case errors.Is(err, auth.ErrSetupToken):
		return Detail(fiber.StatusForbidden, msgSetupToken)
	case err != nil:
		return accountWriteErr(err)
	}
	a.Log.Info("setup: first administrator created", "user_id", u.ID, "client", ClientIP(c))
	return c.Status(fiber.StatusCreated).JSON(struct {
		Message string   `json:"message"`
		User    userBody `json:"user"`
		Refresh string   `json:"refresh"`
		Access  string   `json:"access"`
	}{msgSetupOK, newUserBody(u), pair.Refresh, pair.Access})
}
