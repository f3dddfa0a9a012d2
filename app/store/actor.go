package store

// Role is an account's role.
type Role string

// The roles: everyone who registers is staff; administrators manage accounts and settings.
const (
	RoleStaff Role = "staff"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleStaff || r == RoleAdmin }

// Actor is who makes a request: authentication yields it, and the store methods that act on
// someone's behalf take it (who may see what, who made what). The zero Actor is nobody.
type Actor struct {
	UserID    int64
	Role      Role
	RequestID string // the request's X-Request-ID, for logs
	Address   string // the client address
}

// Admin reports whether the actor is an administrator.
func (a Actor) Admin() bool { return a.UserID > 0 && a.Role == RoleAdmin }

// PatientScope says which patients (and so which assignments) a query may see and change. It is
// built from an Actor by OwnPatients or ClinicPatients; the zero value sees nothing. Every patient
// and assignment query puts it in its WHERE clause (see visible), so visibility is a property of
// the SQL, not a check someone must remember.
type PatientScope struct {
	actor  int64 // who acts: new patients and assignments are theirs
	clinic bool  // every patient, not only the actor's
}

// OwnPatients is the original's scope: the patients a entered (managed_by), nobody else's.
func OwnPatients(a Actor) PatientScope { return PatientScope{actor: a.UserID} }

// ClinicPatients is the clinic's scope: every patient (managed_by stays the account that entered it).
func ClinicPatients(a Actor) PatientScope { return PatientScope{actor: a.UserID, clinic: true} }

// visible is the condition on the owner column ownerCol that selects the scope's patients.
func (s PatientScope) visible(args *sqlArgs, ownerCol string) string {
	switch {
	case s.actor <= 0:
		return "false"
	case s.clinic:
		return "true"
	default:
		return ownerCol + " = " + args.add(s.actor)
	}
}
