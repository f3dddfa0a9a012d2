package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/backup"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// Administration messages.
const (
	msgLastAdmin     = "This is the last active administrator: make another account an administrator first."
	msgNoBackups     = "The server keeps backups only with its embedded database; with database.url, back up your PostgreSQL with its own tools (pg_dump, your provider's snapshots)."
	msgSettingLocked = "Set by the configuration (%s); change it there."
	msgNotASetting   = "Not a setting: use %s."
	msgClinicOpen    = "patients.visibility clinic shows every patient to every account, so registration must be approval or closed."
)

// userOrdering is the admin user list's ordering allow-list (the store maps each to a column).
var userOrdering = []string{"id", "username", "email", "date_joined", "last_login"}

// roles are the role field's choices.
var roles = []string{string(store.RoleStaff), string(store.RoleAdmin)}

// accountFields is the administrators' user serializer as OPTIONS describes it.
var accountFields = fields{
	readOnlyID(),
	charField("username", "Username", auth.MaxUsernameLength),
	{Name: "email", Type: "email", Required: true, Label: "Email address"},
	charField("password", "Password", 0),
	{Name: "role", Type: "choice", Label: "Role", Choices: []choice{{"staff", "Staff"}, {"admin", "Administrator"}}},
	{Name: "is_active", Type: "boolean", Label: "Active"},
	{Name: "must_change_password", Type: "boolean", Label: "Must change password"},
	timestamp("date_joined", "Date joined"),
	timestamp("last_login", "Last login"),
}

// adminRoutes mounts /api/admin: accounts, clinic settings and backups, for administrators only
// (403 for everyone else, after the 401 of a missing token and before a wrong method's 405).
func (a *API) adminRoutes(r fiber.Router) {
	g := r.Group("/admin")
	admin := store.RoleAdmin
	// Every administrator's action is recorded, reads included (a backup holds every patient).
	users := auditSpec{Resource: "user", Reads: true}
	a.mount(g, "/users", view{Name: "User List", Role: admin, Get: a.listUsers, Post: a.createUser, PostForm: accountFields, Audit: users})
	a.mount(g, "/users/:id", view{Name: "User Instance", Role: admin, Get: a.getUser, Patch: a.updateUser, Audit: users})
	a.mount(g, "/users/:id/logout-everywhere", view{Name: "User Logout Everywhere", Role: admin, Post: a.logoutEverywhere,
		Audit: auditSpec{Resource: "user", Actions: map[string]string{fiber.MethodPost: "logout_everywhere"}}})
	a.mount(g, "/settings", view{Name: "Settings", Role: admin, Get: a.getSettings, Put: a.putSettings,
		Audit: auditSpec{Resource: "settings", Reads: true}})
	backups := auditSpec{Resource: "backup", Reads: true}
	a.mount(g, "/backups", view{Name: "Backup List", Role: admin, Get: a.listBackups, Post: a.createBackup, Audit: backups})
	a.mount(g, "/backups/:name", view{Name: "Backup Instance", Role: admin, Get: a.downloadBackup, Audit: backups})
	trail := auditSpec{Resource: "audit", Reads: true}
	a.mount(g, "/audit", view{Name: "Audit List", Role: admin, Get: a.listAudit, Audit: trail})
	a.mount(g, "/audit/export", view{Name: "Audit Export", Role: admin, Get: a.exportAudit,
		Audit: auditSpec{Resource: "audit", Reads: true, Actions: map[string]string{fiber.MethodGet: "export"}}})
}

// actorAttrs are log attributes: args, then who acted (account, request id, client address).
func actorAttrs(c *fiber.Ctx, args ...any) []any {
	x := actor(c)
	return append(args, "by", x.UserID, "request_id", x.RequestID, "client", x.Address)
}

// accountBody is an account as administrators see it.
type accountBody struct {
	ID                 int64      `json:"id"`
	Username           string     `json:"username"`
	Email              string     `json:"email"`
	Role               store.Role `json:"role"`
	IsActive           bool       `json:"is_active"`
	MustChangePassword bool       `json:"must_change_password"`
	DateJoined         string     `json:"date_joined"`
	LastLogin          *string    `json:"last_login"`
}

func newAccountBody(u *store.User) accountBody {
	b := accountBody{ID: u.ID, Username: u.Username, Email: u.Email, Role: u.Role, IsActive: u.IsActive,
		MustChangePassword: u.MustChangePassword, DateJoined: formatTime(u.DateJoined)}
	if u.LastLogin != nil {
		t := formatTime(*u.LastLogin)
		b.LastLogin = &t
	}
	return b
}

// listUsers is GET /admin/users/: every account, with ?search= (username, email), ?role=,
// ?is_active=, ?ordering= and the usual pagination.
func (a *API) listUsers(c *fiber.Ctx) error {
	q, fe := ParseListQuery(c, userOrdering...)
	q.Filters = map[string]string{}
	if r := c.Query("role"); r != "" {
		if slices.Contains(roles, r) {
			q.Filters["role"] = r
		} else {
			fe.Add("role", fmt.Sprintf(msgChoice, r))
		}
	}
	if v := c.Query("is_active"); v != "" {
		switch strings.ToLower(v) {
		case "true", "1":
			q.Filters["is_active"] = "true"
		case "false", "0":
			q.Filters["is_active"] = "false"
		default:
			fe.Add("is_active", msgBool)
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	users, total, err := a.Store.ListUsers(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]accountBody, len(users))
	for i := range users {
		out[i] = newAccountBody(&users[i])
	}
	SetListHeaders(c, q, total)
	return c.JSON(out)
}

// createUser is POST /admin/users/ {username, email, password, role?, is_active?,
// must_change_password?}: an account made by an administrator. It must choose its own password at
// its first sign-in unless must_change_password is false.
func (a *API) createUser(c *fiber.Ctx) error {
	b, err := ParseBody(c, false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := a.readAccount(ctx, b, "")
	if err != nil {
		return err
	}
	n := store.NewUser{Role: store.RoleStaff, MustChangePassword: true}
	if b.Has("role") {
		if r, ok := b.Choice("role", roles...); ok {
			n.Role = store.Role(r)
		}
	}
	if b.Has("is_active") {
		if v, ok := b.Bool("is_active"); ok {
			n.Inactive = !v
		}
	}
	if b.Has("must_change_password") {
		n.MustChangePassword, _ = b.Bool("must_change_password")
	}
	n.Username, n.Email = in.username, in.email
	if n.PasswordHash, err = a.finishAccount(ctx, b, in, true); err != nil {
		return err
	}
	var u *store.User
	err = a.change(c, fiber.StatusCreated, func(st *store.Store) (err error) {
		if u, err = st.CreateUser(ctx, n); err == nil {
			auditID(c, u.ID, 0)
		}
		return err
	})
	if err != nil {
		return accountWriteErr(err)
	}
	a.Log.Info("admin: account created", actorAttrs(c, "user_id", u.ID, "role", u.Role)...)
	return c.Status(fiber.StatusCreated).JSON(newAccountBody(u))
}

// getUser is GET /admin/users/{id}/.
func (a *API) getUser(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	u, err := a.Store.UserByID(c.UserContext(), id)
	if err != nil {
		return storeErr(err)
	}
	return c.JSON(newAccountBody(u))
}

// updateUser is PATCH /admin/users/{id}/ with any of email, is_active (deactivate, reactivate,
// approve), role, password (a reset: the account must choose its own at its next sign-in unless
// must_change_password is false) and must_change_password. Deactivation, reactivation and a
// password reset end every login of the account. The last active administrator cannot be
// deactivated or demoted (409).
func (a *API) updateUser(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	cur, err := a.Store.UserByID(ctx, id)
	if err != nil {
		return storeErr(err)
	}
	b, err := ParseBody(c, true)
	if err != nil {
		return err
	}
	var ch store.UserChanges
	email := cur.Email
	if s, ok := b.String("email", StringRule{}); ok {
		if checkAll(b, "email", []check{
			{utf8.RuneCountInString(s) <= auth.MaxEmailLength, lengthMessage(auth.MaxEmailLength)},
			{auth.ValidEmail(s), auth.MsgBadEmail},
		}) {
			email = auth.NormalizeEmail(s)
			taken, err := a.Store.EmailTakenByOther(ctx, email, id)
			if err != nil {
				return err
			}
			if taken {
				b.Errors.Add("email", msgEmailTaken)
			}
			ch.Email = &email
		}
	}
	if v, ok := b.Bool("is_active"); ok {
		ch.IsActive = &v
	}
	if r, ok := b.Choice("role", roles...); ok {
		role := store.Role(r)
		ch.Role = &role
	}
	password, hasPassword := b.String("password", StringRule{NoTrim: true})
	if v, ok := b.Bool("must_change_password"); ok {
		ch.MustChangePassword = &v
	}
	if err := b.Err(); err != nil {
		return err
	}
	if hasPassword {
		if msgs := auth.ValidatePassword(password, cur.Username, email); len(msgs) > 0 {
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
		ch.PasswordHash = &hash
		if ch.MustChangePassword == nil {
			yes := true
			ch.MustChangePassword = &yes
		}
	}
	var u *store.User
	err = a.change(c, fiber.StatusOK, func(st *store.Store) (err error) {
		u, err = st.UpdateUser(ctx, id, ch)
		return err
	})
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return Detail(fiber.StatusConflict, msgLastAdmin)
	case store.UniqueViolation(err) == store.UsersEmailKey:
		return FieldError("email", msgEmailTaken)
	case err != nil:
		return storeErr(err)
	}
	a.Log.Info("admin: account changed", actorAttrs(c, "user_id", u.ID, "fields", strings.Join(changedFields(ch, hasPassword), ","))...)
	return c.JSON(newAccountBody(u))
}

// logoutEverywhere is POST /admin/users/{id}/logout-everywhere/: ends every login of the account
// at once (its access tokens stop working at the next request). 204.
func (a *API) logoutEverywhere(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := a.change(c, fiber.StatusNoContent, func(st *store.Store) error { return st.EndLogins(c.UserContext(), id) }); err != nil {
		return storeErr(err)
	}
	a.Log.Info("admin: every login of an account ended", actorAttrs(c, "user_id", id)...)
	return noContent(c)
}

// settingBody is one clinic policy as administrators see it.
type settingBody struct {
	Value     string        `json:"value"`
	Source    policy.Source `json:"source"` // default, database or config
	Locked    bool          `json:"locked"` // set in the configuration: cannot be changed here
	ConfigKey string        `json:"config_key"`
	Choices   []string      `json:"choices"`
	Default   string        `json:"default"`
}

// settingsBody is every policy by name, in their order.
type settingsBody []policy.Value

// MarshalJSON writes {"name": settingBody, ...} in the policies' order.
func (s settingsBody) MarshalJSON() ([]byte, error) {
	fs := make(orderedObject, len(s))
	for i, v := range s {
		fs[i] = orderedField{Name: v.Name, Value: settingBody{Value: v.Value, Source: v.Source, Locked: v.Locked(),
			ConfigKey: v.ConfigKey, Choices: v.Choices, Default: v.Default()}}
	}
	return fs.MarshalJSON()
}

// getSettings is GET /admin/settings/: each clinic policy's value, where it comes from, and
// whether the configuration locks it.
func (a *API) getSettings(c *fiber.Ctx) error {
	stored, err := a.Store.Settings(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(settingsBody(policy.Resolve(a.Config, stored)))
}

// putSettings is PUT /admin/settings/ {"registration": "approval", ...} with any subset of the
// policies: stored as the administrators' choice and in force at once on every replica. A policy
// the configuration sets cannot be changed, and clinic visibility needs registration approval
// or closed. The answer is GET's.
func (a *API) putSettings(c *fiber.Ctx) error {
	b, err := ParseBody(c, true)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	stored, err := a.Store.Settings(ctx)
	if err != nil {
		return err
	}
	current := policy.Resolve(a.Config, stored)
	names := make([]string, len(policy.Settings))
	for i, s := range policy.Settings {
		names[i] = s.Name
	}
	changes := map[string]string{}
	merged := maps.Clone(stored)
	for _, v := range current {
		if !b.Has(v.Name) {
			continue
		}
		val, ok := b.Choice(v.Name, v.Choices...)
		if !ok {
			continue
		}
		if v.Locked() {
			if val != v.Value {
				b.Errors.Add(v.Name, fmt.Sprintf(msgSettingLocked, v.ConfigKey))
			}
			continue
		}
		changes[v.Name] = val
		merged[v.Name] = val
	}
	for _, k := range b.Keys() {
		if _, ok := policy.Lookup(k); !ok {
			b.Errors.Add(k, fmt.Sprintf(msgNotASetting, strings.Join(names, ", ")))
		}
	}
	if err := b.Err(); err != nil {
		return err
	}
	if policy.From(policy.Resolve(a.Config, merged)).Check() != nil {
		field := policy.PatientsVisibility
		if _, ok := changes[policy.PatientsVisibility]; !ok {
			field = policy.Registration
		}
		return FieldError(field, msgClinicOpen)
	}
	if len(changes) > 0 {
		if err := a.change(c, fiber.StatusOK, func(st *store.Store) error { return st.SaveSettings(ctx, actor(c), changes) }); err != nil {
			return err
		}
		a.Log.Info("admin: clinic settings changed", actorAttrs(c, "settings", changes)...)
	}
	return c.JSON(settingsBody(policy.Resolve(a.Config, merged)))
}

// orderedField is one member of an orderedObject.
type orderedField struct {
	Name  string
	Value any
}

// orderedObject is a JSON object whose members keep their order (a Go map's would not).
type orderedObject []orderedField

// MarshalJSON writes {"name": value, ...} in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// backupBody is a backup file in <data_dir>/backups.
type backupBody struct {
	Name          string `json:"name"`
	CreatedAt     string `json:"created_at"`
	Size          int64  `json:"size"`
	SchemaVersion int    `json:"schema_version"`
}

func newBackupBody(e backup.Entry) backupBody {
	return backupBody{Name: filepath.Base(e.Path), CreatedAt: formatTime(e.Time), Size: e.Size, SchemaVersion: e.Meta.SchemaVersion}
}

// backupDir is the server's backups folder; 409 without the embedded database (there is none).
func (a *API) backupDir() (string, error) {
	if !a.Config.EmbeddedMode() {
		return "", Detail(fiber.StatusConflict, msgNoBackups)
	}
	return backup.Dir(a.Config.DataDir), nil
}

// listBackups is GET /admin/backups/: the backups the server keeps, newest first (not verified
// here: `healthcare backup --list` reads each in full).
func (a *API) listBackups(c *fiber.Ctx) error {
	dir, err := a.backupDir()
	if err != nil {
		return err
	}
	files, err := backup.Files(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out := make([]backupBody, len(files))
	for i, f := range files {
		out[i] = newBackupBody(f)
	}
	return c.JSON(out)
}

// createBackup is POST /admin/backups/: a backup now, from one consistent snapshot while the
// server keeps serving; the oldest beyond backup.keep are removed. 201 with the new file.
func (a *API) createBackup(c *fiber.Ctx) error {
	dir, err := a.backupDir()
	if err != nil {
		return err
	}
	version := a.Version
	if version == "" {
		version = "dev"
	}
	path, meta, err := backup.Now(c.UserContext(), a.Store.Pool(), dir, a.Config.Backup.Keep, "healthcare "+version,
		fmt.Sprintf("requested by administrator %d", actor(c).UserID), a.Log)
	if err != nil && path == "" {
		return err
	}
	if err != nil {
		a.Log.Warn("backup written, but pruning old backups failed", "error", err)
	}
	e := backup.Entry{Path: path, Meta: meta}
	if st, err := os.Stat(path); err == nil {
		e.Size, e.Time = st.Size(), st.ModTime()
	}
	if files, err := backup.Files(dir); err == nil {
		for _, f := range files {
			if f.Path == path {
				e.Time = f.Time
			}
		}
	}
	return c.Status(fiber.StatusCreated).JSON(newBackupBody(e))
}

// downloadBackup is GET /admin/backups/{name}: the file, as an attachment, never cached.
func (a *API) downloadBackup(c *fiber.Ctx) error {
	dir, err := a.backupDir()
	if err != nil {
		return err
	}
	name := c.Params("name")
	if !backup.ValidName(name) {
		return NotFound()
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return NotFound()
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return NotFound()
	}
	a.Log.Info("admin: backup downloaded", actorAttrs(c, "file", name)...)
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStream(f, int(st.Size()))
}

// changedFields names what an account change set, for the log: the fields the handler used, never
// the keys of the body as a client wrote them (any text it likes).
func changedFields(ch store.UserChanges, password bool) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"email", ch.Email != nil}, {"is_active", ch.IsActive != nil}, {"role", ch.Role != nil},
		{"password", password}, {"must_change_password", ch.MustChangePassword != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}
