package api

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"healthcare/app/auth"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// Registration messages. The username one is Django's User model's; the email one is what DRF's
// ModelSerializer derives from a unique EmailField ("<model> with this <field> already exists.").
const (
	msgUsernameTaken     = "A user with that username already exists."
	msgEmailTaken        = "user with this email address already exists."
	msgPasswordMismatch  = "Password fields didn't match."
	msgRegistrationShut  = "Registration is closed. Ask an administrator for an account."
	msgRegisterSucceeded = "User registered successfully."
	msgRegisterApproval  = "User registered successfully. An administrator must approve the account before you can sign in."
)

// registerFields is the registration serializer as OPTIONS describes it.
var registerFields = fields{
	charField("username", "Username", auth.MaxUsernameLength),
	{Name: "email", Type: "email", Required: true, Label: "Email address"},
	charField("password", "Password", 0),
	charField("password2", "Password2", 0),
}

// authRoutes mounts /api/auth: register, login, refresh, logout, me, password and sessions.
func (a *API) authRoutes(r fiber.Router) {
	g := r.Group("/auth")
	a.mount(g, "/register", view{Name: "Register", Public: true, Post: a.register, PostForm: registerFields,
		Audit: auditSpec{Resource: "user", Actions: map[string]string{fiber.MethodPost: "register"}}})
	a.mount(g, "/login", view{Name: "Token Obtain Pair", Public: true, Post: a.login,
		Audit: auditSpec{Resource: "session", Actions: map[string]string{fiber.MethodPost: "login"}}, PostForm: fields{
			charField("username", "Username", 0), charField("password", "Password", 0)}})
	a.mount(g, "/login/refresh", view{Name: "Token Refresh", Public: true, Post: a.refresh,
		Audit: auditSpec{Resource: "session", Actions: map[string]string{fiber.MethodPost: "refresh"}}, PostForm: fields{
			charField("refresh", "Refresh", 0), {Name: "access", Type: "string", ReadOnly: true, Label: "Access"}}})
	a.mount(g, "/logout", view{Name: "Logout", Public: true, Post: a.logout, PostForm: fields{charField("refresh", "Refresh", 0)},
		Audit: auditSpec{Resource: "session", Actions: map[string]string{fiber.MethodPost: "logout"}}})
	a.mount(g, "/me", view{Name: "Me", PasswordPending: true, Get: a.me})
	a.mount(g, "/password", view{Name: "Password Change", PasswordPending: true, Post: a.changePassword,
		Audit: auditSpec{Resource: "user", Actions: map[string]string{fiber.MethodPost: "password_changed"}}, PostForm: fields{
			charField("old_password", "Old password", 0), charField("new_password1", "New password", 0),
			charField("new_password2", "New password confirmation", 0)}})
	ended := auditSpec{Resource: "session", Actions: map[string]string{fiber.MethodDelete: "logout"}}
	a.mount(g, "/sessions", view{Name: "Session List", PasswordPending: true, Get: a.listSessions, Delete: a.endOtherSessions, Audit: ended})
	a.mount(g, "/sessions/:sid", view{Name: "Session Instance", PasswordPending: true, Delete: a.endSession, Audit: ended})
}

// userBody is an account as registration shows it (the original's shape).
type userBody struct {
	ID         int64  `json:"id"`
	Username   string `json:"username"`
	Email      string `json:"email"`
	DateJoined string `json:"date_joined"`
}

func newUserBody(u *store.User) userBody {
	return userBody{u.ID, u.Username, u.Email, u.DateJoined.UTC().Format(meTimeFormat)}
}

// accountInput is a new account's fields, read by readAccount.
type accountInput struct {
	username, email, password string
	ok                        bool // no field error so far
	fieldsOK                  bool // username and email are well-formed (uniqueness not checked yet)
}

// readAccount reads a new account's username, email and password (and the confirmation field
// confirm, unless ""), recording field errors as registration does (Django's username rule). The
// caller reads its own fields, then calls finishAccount, which checks the password and only then
// whether the username or email is taken.
func (a *API) readAccount(ctx context.Context, b *Body, confirm string) (accountInput, error) {
	var in accountInput
	username, okUser := b.String("username", StringRule{})
	username = auth.NormalizeUsername(username)
	if okUser {
		okUser = checkAll(b, "username", []check{
			{utf8.RuneCountInString(username) <= auth.MaxUsernameLength, lengthMessage(auth.MaxUsernameLength)},
			{auth.ValidUsername(username), auth.MsgBadUsername},
		})
	}
	email, okEmail := b.String("email", StringRule{})
	if okEmail {
		okEmail = checkAll(b, "email", []check{
			{utf8.RuneCountInString(email) <= auth.MaxEmailLength, lengthMessage(auth.MaxEmailLength)},
			{auth.ValidEmail(email), auth.MsgBadEmail},
		})
		email = auth.NormalizeEmail(email)
	}
	in.password, _ = b.String("password", StringRule{NoTrim: true})
	password2 := in.password
	if confirm != "" {
		password2, _ = b.String(confirm, StringRule{NoTrim: true})
	}
	in.username, in.email = username, email
	if b.Errors.Empty() && in.password != password2 {
		b.Errors.Add("password", msgPasswordMismatch)
	}
	in.ok = b.Errors.Empty()
	in.fieldsOK = okUser && okEmail
	return in, nil
}

// errAccountExists: the username or email is taken and the caller must not be told (registration
// with approval): it answers as if the account had been made.
var errAccountExists = errors.New("account exists")

// finishAccount validates everything and answers all field errors in one response: the fields'
// formats and the password policy together. Only a request valid in every other way learns whether
// the username or email is taken (DRF checked uniqueness first, so anyone could probe for accounts
// with a throw-away password); with reveal false it does not learn it at all (errAccountExists).
// Then the password is hashed.
func (a *API) finishAccount(ctx context.Context, b *Body, in accountInput, reveal bool) (string, error) {
	if in.password != "" {
		username, email := in.username, in.email
		if !in.fieldsOK {
			username, email = "", ""
		}
		for _, m := range auth.ValidatePassword(in.password, username, email) {
			b.Errors.Add("password", m)
		}
	}
	if err := b.Err(); err != nil {
		return "", err
	}
	usernameTaken, err := a.Store.UsernameTaken(ctx, in.username)
	if err != nil {
		return "", err
	}
	emailTaken, err := a.Store.EmailTaken(ctx, in.email)
	if err != nil {
		return "", err
	}
	if usernameTaken || emailTaken {
		if !reveal {
			return "", errAccountExists
		}
		if usernameTaken {
			b.Errors.Add("username", msgUsernameTaken)
		}
		if emailTaken {
			b.Errors.Add("email", msgEmailTaken)
		}
		return "", b.Err()
	}
	return a.Auth.HashPassword(in.password)
}

// accountWriteErr maps a unique violation of a concurrent duplicate to the sequential case's 400.
func accountWriteErr(err error) error {
	switch store.UniqueViolation(err) {
	case store.UsersUsernameKey:
		return FieldError("username", msgUsernameTaken)
	case store.UsersEmailKey:
		return FieldError("email", msgEmailTaken)
	}
	return err
}

// register creates an account. Field errors are reported all at once in serializer order; the
// password match and the password policy (DRF's validate()) run only once the fields are valid.
// With registration "approval" the account waits, inactive, for an administrator; "closed" is 403.
func (a *API) register(c *fiber.Ctx) error {
	pol, err := a.policies(c)
	if err != nil {
		return err
	}
	if pol.Registration == policy.RegistrationClosed {
		return Detail(fiber.StatusForbidden, msgRegistrationShut)
	}
	rl := a.Config.RateLimit
	if err := a.Auth.Throttle(c.UserContext(), "register:addr:"+auth.AddressGroup(ClientIP(c)), rl.RegisterPerAddress, rl.RegisterWindow); err != nil {
		return authError(err)
	}
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := a.readAccount(ctx, b, "password2")
	if err != nil {
		return err
	}
	approval := pol.Registration == policy.RegistrationApproval
	hash, err := a.finishAccount(ctx, b, in, !approval)
	if errors.Is(err, errAccountExists) {
		// Approval mode says nothing about existing accounts: the same answer, no account.
		a.Log.Info("registration for an existing username or email answered as accepted (registration: approval)")
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"message": msgRegisterApproval})
	}
	if err != nil {
		return err
	}
	var u *store.User
	err = a.change(c, fiber.StatusCreated, func(st *store.Store) (err error) {
		u, err = st.CreateUser(ctx, store.NewUser{Username: in.username, Email: in.email, PasswordHash: hash, Inactive: approval})
		if err == nil {
			auditID(c, u.ID, 0)
		}
		return err
	})
	if approval && store.UniqueViolation(err) != "" {
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"message": msgRegisterApproval})
	}
	if err != nil {
		return accountWriteErr(err)
	}
	a.Log.Info("user registered", "user_id", u.ID, "awaiting_approval", approval)
	if approval {
		// The account's details are not echoed: an answer for an existing account could not have them.
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"message": msgRegisterApproval})
	}
	msg := msgRegisterSucceeded
	return c.Status(fiber.StatusCreated).JSON(struct {
		Message string   `json:"message"`
		User    userBody `json:"user"`
	}{msg, newUserBody(u)})
}

type check struct {
	ok  bool
	msg string
}

// checkAll records the message of every failed check, as DRF runs all of a field's validators.
func checkAll(b *Body, field string, checks []check) bool {
	ok := true
	for _, ch := range checks {
		if !ch.ok {
			b.Errors.Add(field, ch.msg)
			ok = false
		}
	}
	return ok
}

func lengthMessage(n int) string { return fmt.Sprintf(msgMaxLength, n) }

// login is simplejwt's TokenObtainPairView: 200 {"refresh", "access"}. Failed attempts are
// limited per (username, client address) and per client address (see auth.Service.Login).
func (a *API) login(c *fiber.Ctx) error {
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	username, _ := b.String("username", StringRule{})
	username = auth.NormalizeUsername(username)
	password, _ := b.String("password", StringRule{NoTrim: true})
	if err := b.Err(); err != nil {
		return err
	}
	if ev := auditEvent(c); ev != nil {
		ev.Username = clip(username) // the attempted username, also when the login fails
	}
	var pair auth.Pair
	err = a.authChange(c, fiber.StatusOK, func(ctx context.Context) (err error) {
		pair, err = a.Auth.Login(ctx, username, password, client(c))
		return err
	})
	if err != nil {
		return authError(err)
	}
	a.auditUser(c, a.Auth.RefreshUser(pair.Refresh))
	return c.JSON(struct {
		Refresh string `json:"refresh"`
		Access  string `json:"access"`
	}{pair.Refresh, pair.Access})
}

// refresh is TokenRefreshView with rotation: 200 {"access", "refresh"} (or {"access"} with
// rotation off).
func (a *API) refresh(c *fiber.Ctx) error {
	raw, err := refreshField(c)
	if err != nil {
		return err
	}
	a.auditUser(c, a.Auth.RefreshUser(raw))
	var pair auth.Pair
	err = a.authChange(c, fiber.StatusOK, func(ctx context.Context) (err error) {
		pair, err = a.Auth.Refresh(ctx, raw)
		return err
	})
	var te *auth.TokenError
	if errors.As(err, &te) && te.Reused {
		if ev := auditEvent(c); ev != nil {
			ev.Action = "refresh_reuse_detected"
		}
	}
	if err != nil {
		return authError(err)
	}
	return c.JSON(pair)
}

// logout revokes the login a refresh token belongs to: 204.
func (a *API) logout(c *fiber.Ctx) error {
	raw, err := refreshField(c)
	if err != nil {
		return err
	}
	a.auditUser(c, a.Auth.RefreshUser(raw))
	if err := a.authChange(c, fiber.StatusNoContent, func(ctx context.Context) error { return a.Auth.Logout(ctx, raw) }); err != nil {
		return authError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func refreshField(c *fiber.Ctx) (string, error) {
	b, err := ParseBody(c, false)
	if err != nil {
		return "", err
	}
	raw, _ := b.String("refresh", StringRule{})
	return raw, b.Err()
}

// meBody is the caller's account as /auth/me/ shows it: the original's fields, the role, whether an
// administrator set the password, the clinic policies in force (what the UI adapts to), and the
// idle timeout in seconds (the UI warns a minute before the server ends an idle login).
type meBody struct {
	userBody
	Role               store.Role        `json:"role"`
	MustChangePassword bool              `json:"must_change_password"`
	Policies           map[string]string `json:"policies"`
	IdleTimeout        int64             `json:"idle_timeout"`
}

// me answers the caller's account.
func (a *API) me(c *fiber.Ctx) error {
	u := currentUser(c)
	pols := map[string]string{}
	for _, v := range policy.Resolve(a.Config, session(c).Settings) {
		pols[v.Name] = v.Value
	}
	p, _ := a.policies(c)
	pols[policy.PatientsVisibility] = p.PatientsVisibility // after the fallback Effective applies
	return c.JSON(meBody{userBody: newUserBody(u), Role: u.Role, MustChangePassword: u.MustChangePassword, Policies: pols,
		IdleTimeout: int64(a.Config.Auth.IdleTimeout / time.Second)})
}

// Password change messages, Django's (PasswordChangeForm).
const (
	msgOldPasswordWrong   = "Your old password was entered incorrectly. Please enter it again."
	msgNewPasswordsDiffer = "The two password fields didn’t match."
)

// changePassword is POST /auth/password/ {old_password, new_password1, new_password2}: the caller
// chooses a new password. Every login of the account ends, this one too, and the answer is a new
// login's {"refresh", "access"} for the caller.
func (a *API) changePassword(c *fiber.Ctx) error {
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	old, _ := b.String("old_password", StringRule{NoTrim: true})
	p1, _ := b.String("new_password1", StringRule{NoTrim: true})
	p2, _ := b.String("new_password2", StringRule{NoTrim: true})
	if err := b.Err(); err != nil {
		return err
	}
	u := currentUser(c)
	if p1 != p2 {
		return FieldError("new_password2", msgNewPasswordsDiffer)
	}
	if msgs := auth.ValidatePassword(p1, u.Username, u.Email); len(msgs) > 0 {
		fe := &FieldErrors{}
		for _, m := range msgs {
			fe.Add("new_password2", m)
		}
		return Invalid(fe)
	}
	var pair auth.Pair
	err = a.authChange(c, fiber.StatusOK, func(ctx context.Context) (err error) {
		pair, err = a.Auth.ChangePassword(ctx, session(c), old, p1, client(c))
		return err
	})
	if errors.Is(err, auth.ErrWrongPassword) {
		return FieldError("old_password", msgOldPasswordWrong)
	}
	if err != nil {
		return authError(err)
	}
	return c.JSON(pair)
}

// sessionBody is a live login as "my sessions" shows it.
type sessionBody struct {
	ID            string `json:"id"`
	CreatedAt     string `json:"created_at"`
	LastUsedAt    string `json:"last_used_at"`
	ExpiresAt     string `json:"expires_at"`
	ClientAddress string `json:"client_address"`
	UserAgent     string `json:"user_agent"`
	Current       bool   `json:"current"` // the login of this request's token
}

// listSessions is GET /auth/sessions/: the caller's live logins, newest first.
func (a *API) listSessions(c *fiber.Ctx) error {
	sess := session(c)
	list, err := a.Store.ListSessions(c.UserContext(), sess.User.ID, a.Auth.Limits())
	if err != nil {
		return err
	}
	out := make([]sessionBody, len(list))
	for i, x := range list {
		out[i] = sessionBody{ID: x.ID.String(), CreatedAt: formatTime(x.CreatedAt), LastUsedAt: formatTime(x.LastUsedAt),
			ExpiresAt: formatTime(x.ExpiresAt), ClientAddress: x.Address, UserAgent: x.UserAgent, Current: x.ID == sess.Family}
	}
	return c.JSON(out)
}

// endOtherSessions is DELETE /auth/sessions/: ends every login of the caller but this one.
func (a *API) endOtherSessions(c *fiber.Ctx) error {
	sess := session(c)
	if err := a.change(c, fiber.StatusNoContent, func(st *store.Store) error {
		_, err := st.EndOtherSessions(c.UserContext(), sess.User.ID, sess.Family)
		return err
	}); err != nil {
		return err
	}
	return noContent(c)
}

// endSession is DELETE /auth/sessions/{id}/: ends one of the caller's live logins (this one too).
func (a *API) endSession(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("sid"))
	if err != nil {
		return NotFound()
	}
	if err := a.change(c, fiber.StatusNoContent, func(st *store.Store) error {
		return st.EndSession(c.UserContext(), currentUser(c).ID, id, a.Auth.Limits())
	}); err != nil {
		return storeErr(err)
	}
	return noContent(c)
}

// formatTime is API.md's timestamp.
func formatTime(t time.Time) string { return t.UTC().Format(meTimeFormat) }

// meTimeFormat is API.md's timestamp: RFC 3339 UTC with microseconds and a Z.
const meTimeFormat = "2006-01-02T15:04:05.000000Z"
