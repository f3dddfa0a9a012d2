package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
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
)

// registerFields is the registration serializer as OPTIONS describes it.
var registerFields = fields{
	charField("username", "Username", auth.MaxUsernameLength),
	{Name: "email", Type: "email", Required: true, Label: "Email address"},
	charField("password", "Password", 0),
	charField("password2", "Password2", 0),
}

// authRoutes mounts /api/auth: register, login, refresh, logout and me.
func (a *API) authRoutes(r fiber.Router) {
	g := r.Group("/auth")
	a.mount(g, "/register", view{Name: "Register", Public: true, Post: a.register, PostForm: registerFields})
	a.mount(g, "/login", view{Name: "Token Obtain Pair", Public: true, Post: a.login, PostForm: fields{
		charField("username", "Username", 0), charField("password", "Password", 0)}})
	a.mount(g, "/login/refresh", view{Name: "Token Refresh", Public: true, Post: a.refresh, PostForm: fields{
		charField("refresh", "Refresh", 0), {Name: "access", Type: "string", ReadOnly: true, Label: "Access"}}})
	a.mount(g, "/logout", view{Name: "Logout", Public: true, Post: a.logout, PostForm: fields{charField("refresh", "Refresh", 0)}})
	a.mount(g, "/me", view{Name: "Me", Get: a.me})
}

// userBody is an account as /auth/me/ and registration show it.
type userBody struct {
	ID         int64  `json:"id"`
	Username   string `json:"username"`
	Email      string `json:"email"`
	DateJoined string `json:"date_joined"`
}

func newUserBody(u *store.User) userBody {
	return userBody{u.ID, u.Username, u.Email, u.DateJoined.UTC().Format(meTimeFormat)}
}

// register creates an account. Field errors are reported all at once in serializer order; the
// password match and the password policy (DRF's validate()) run only once the fields are valid.
func (a *API) register(c *fiber.Ctx) error {
	if !a.Auth.RegistrationOpen() {
		return Detail(fiber.StatusForbidden, msgRegistrationShut)
	}
	rl := a.Config.RateLimit
	if err := a.Auth.Throttle(c.UserContext(), "register:addr:"+ClientIP(c), rl.RegisterPerAddress, rl.RegisterWindow); err != nil {
		return authError(err)
	}
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
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
	password, _ := b.String("password", StringRule{NoTrim: true})
	password2, _ := b.String("password2", StringRule{NoTrim: true})
	ctx := c.UserContext()
	if okUser {
		taken, err := a.Store.UsernameTaken(ctx, username)
		if err != nil {
			return err
		}
		if taken {
			b.Errors.Add("username", msgUsernameTaken)
		}
	}
	if okEmail {
		taken, err := a.Store.EmailTaken(ctx, email)
		if err != nil {
			return err
		}
		if taken {
			b.Errors.Add("email", msgEmailTaken)
		}
	}
	if err := b.Err(); err != nil {
		return err
	}
	if password != password2 {
		return FieldError("password", msgPasswordMismatch)
	}
	if msgs := auth.ValidatePassword(password, username, email); len(msgs) > 0 {
		fe := &FieldErrors{}
		for _, m := range msgs {
			fe.Add("password", m)
		}
		return Invalid(fe)
	}
	hash, err := a.Auth.HashPassword(password)
	if err != nil {
		return err
	}
	u, err := a.Store.CreateUser(ctx, username, email, hash)
	switch store.UniqueViolation(err) {
	case "":
	case store.UsersUsernameKey:
		return FieldError("username", msgUsernameTaken)
	case store.UsersEmailKey:
		return FieldError("email", msgEmailTaken)
	}
	if err != nil {
		return err
	}
	a.Log.Info("user registered", "user_id", u.ID)
	return c.Status(fiber.StatusCreated).JSON(struct {
		Message string   `json:"message"`
		User    userBody `json:"user"`
	}{msgRegisterSucceeded, newUserBody(u)})
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

// login is simplejwt's TokenObtainPairView: 200 {"refresh", "access"}. Attempts are rate-limited
// per client address and per username.
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
	ctx := c.UserContext()
	rl := a.Config.RateLimit
	if err := a.Auth.Throttle(ctx, "login:addr:"+ClientIP(c), rl.LoginPerAddress, rl.LoginWindow); err != nil {
		return authError(err)
	}
	if err := a.Auth.Throttle(ctx, "login:user:"+bucketName(username), rl.LoginPerUsername, rl.LoginWindow); err != nil {
		return authError(err)
	}
	pair, err := a.Auth.Login(ctx, username, password)
	if err != nil {
		return authError(err)
	}
	return c.JSON(struct {
		Refresh string `json:"refresh"`
		Access  string `json:"access"`
	}{pair.Refresh, pair.Access})
}

// bucketName keys the per-username limit by a digest: case-insensitive, bounded in size, and no
// usernames in the rate_limits table.
func bucketName(username string) string {
	h := sha256.Sum256([]byte(strings.ToLower(username)))
	return hex.EncodeToString(h[:16])
}

// refresh is TokenRefreshView with rotation: 200 {"access", "refresh"} (or {"access"} with
// rotation off).
func (a *API) refresh(c *fiber.Ctx) error {
	raw, err := refreshField(c)
	if err != nil {
		return err
	}
	pair, err := a.Auth.Refresh(c.UserContext(), raw)
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
	if err := a.Auth.Logout(c.UserContext(), raw); err != nil {
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

// me answers the caller's account: {id, username, email, date_joined}.
func (a *API) me(c *fiber.Ctx) error {
	return c.JSON(newUserBody(currentUser(c)))
}

// meTimeFormat is API.md's timestamp: RFC 3339 UTC with microseconds and a Z.
const meTimeFormat = "2006-01-02T15:04:05.000000Z"
