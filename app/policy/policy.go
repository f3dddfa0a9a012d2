// Package policy knows the clinic policies (registration, patients.visibility, doctors.writes):
// their choices and defaults, and which value is in force. The precedence is one rule:
//
//	a value set in the configuration (file, .env, environment or flag)
//	  > the value an administrator chose (the settings table, PUT /api/admin/settings/)
//	  > the built-in default (the original system's behaviour)
//
// A policy set in the configuration is locked: administrators see it, with where it comes from,
// but cannot change it. The database values are read with every authenticated request, so a
// change applies at once on every replica, without a restart.
package policy

import (
	"fmt"
	"slices"

	"healthcare/app/config"
)

// Names of the policies: the keys of the settings table and of the admin settings API.
const (
	Registration       = "registration"
	PatientsVisibility = "patients.visibility"
	DoctorsWrites      = "doctors.writes"
)

// Values of the policies.
const (
	RegistrationOpen     = "open"
	RegistrationApproval = "approval"
	RegistrationClosed   = "closed"
	VisibilityOwner      = "owner"
	VisibilityClinic     = "clinic"
	WritesAny            = "any"
	WritesAdmin          = "admin"
)

// Setting describes one policy.
type Setting struct {
	Name      string   // the settings key, e.g. "patients.visibility"
	ConfigKey string   // the configuration key that locks it, e.g. "patients.visibility"
	Choices   []string // the allowed values; the first is the default
}

// Default is the built-in value: the original system's behaviour.
func (s Setting) Default() string { return s.Choices[0] }

// Settings are every policy, in the order the API and `healthcare config` show them.
var Settings = []Setting{
	{Name: Registration, ConfigKey: "auth.registration", Choices: []string{RegistrationOpen, RegistrationApproval, RegistrationClosed}},
	{Name: PatientsVisibility, ConfigKey: "patients.visibility", Choices: []string{VisibilityOwner, VisibilityClinic}},
	{Name: DoctorsWrites, ConfigKey: "doctors.writes", Choices: []string{WritesAny, WritesAdmin}},
}

// Lookup finds a policy by name.
func Lookup(name string) (Setting, bool) {
	i := slices.IndexFunc(Settings, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		return Setting{}, false
	}
	return Settings[i], true
}

// Source says where a policy's value comes from.
type Source string

const (
	SourceDefault  Source = "default"  // neither configured nor chosen: the built-in value
	SourceDatabase Source = "database" // chosen by an administrator
	SourceConfig   Source = "config"   // set in the configuration: locked
)

// Value is a policy's value in force and where it comes from.
type Value struct {
	Setting
	Value  string
	Source Source
}

// Locked reports whether the configuration sets the policy, so administrators cannot change it.
func (v Value) Locked() bool { return v.Source == SourceConfig }

// Configured returns the configuration's value of a policy ("" when unset there).
func Configured(cfg *config.Config, name string) string {
	switch name {
	case Registration:
		return cfg.Auth.Registration
	case PatientsVisibility:
		return cfg.Patients.Visibility
	case DoctorsWrites:
		return cfg.Doctors.Writes
	}
	return ""
}

// Resolve applies the precedence to every policy: configuration, then stored (the settings
// table's key → value; values that are not a choice are ignored), then the default.
func Resolve(cfg *config.Config, stored map[string]string) []Value {
	out := make([]Value, len(Settings))
	for i, s := range Settings {
		out[i] = resolve(cfg, stored, s)
	}
	return out
}

func resolve(cfg *config.Config, stored map[string]string, s Setting) Value {
	v := Value{Setting: s, Value: s.Default(), Source: SourceDefault}
	if c := Configured(cfg, s.Name); c != "" {
		v.Value, v.Source = c, SourceConfig
	} else if d, ok := stored[s.Name]; ok && slices.Contains(s.Choices, d) {
		v.Value, v.Source = d, SourceDatabase
	}
	return v
}

// Policies are the values in force, as the handlers use them.
type Policies struct {
	Registration       string
	PatientsVisibility string
	DoctorsWrites      string
}

// Effective returns the policies in force. A combination Check refuses (clinic visibility with open
// registration, possible only when the configuration changed under an administrator's choice) falls
// back to owner visibility: nobody sees more than the original let them.
func Effective(cfg *config.Config, stored map[string]string) Policies {
	var p Policies
	for _, s := range Settings { // as From(Resolve(...)), without a slice: this runs on every request
		p.set(resolve(cfg, stored, s))
	}
	if p.Check() != nil {
		p.PatientsVisibility = VisibilityOwner
	}
	return p
}

// From collects resolved values into Policies.
func From(vs []Value) Policies {
	var p Policies
	for _, v := range vs {
		p.set(v)
	}
	return p
}

func (p *Policies) set(v Value) {
	switch v.Name {
	case Registration:
		p.Registration = v.Value
	case PatientsVisibility:
		p.PatientsVisibility = v.Value
	case DoctorsWrites:
		p.DoctorsWrites = v.Value
	}
}

// Check refuses combinations that make no sense: clinic visibility shows every patient to every
// account, so anyone able to register would see them all.
func (p Policies) Check() error {
	if p.PatientsVisibility == VisibilityClinic && p.Registration == RegistrationOpen {
		return fmt.Errorf("patients.visibility clinic shows every patient to every account, so registration must be approval or closed first")
	}
	return nil
}

// Clinic reports whether every active account sees every patient.
func (p Policies) Clinic() bool { return p.PatientsVisibility == VisibilityClinic }

// DoctorWritesAdminOnly reports whether only administrators may add, change or delete doctors.
func (p Policies) DoctorWritesAdminOnly() bool { return p.DoctorsWrites == WritesAdmin }
