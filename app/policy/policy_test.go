package policy

import (
	"testing"

	"healthcare/app/config"
)

// Effective (every request) resolves the policies without Resolve's slice: it must give what
// From(Resolve(...)) gives, with the fallback for a refused combination, for every mix of
// configured and stored values (unset, each choice, not a choice), and allocate nothing.
func TestEffectiveIsFromResolve(t *testing.T) {
	var combos [][3]string
	for _, a := range []string{"", RegistrationOpen, RegistrationApproval, RegistrationClosed, "bogus"} {
		for _, b := range []string{"", VisibilityOwner, VisibilityClinic, "bogus"} {
			for _, c := range []string{"", WritesAny, WritesAdmin} {
				combos = append(combos, [3]string{a, b, c})
			}
		}
	}
	for _, cv := range combos {
		for _, sv := range combos {
			cfg := &config.Config{}
			cfg.Auth.Registration, cfg.Patients.Visibility, cfg.Doctors.Writes = cv[0], cv[1], cv[2]
			stored := map[string]string{}
			for i, name := range []string{Registration, PatientsVisibility, DoctorsWrites} {
				if sv[i] != "" {
					stored[name] = sv[i]
				}
			}
			want := From(Resolve(cfg, stored))
			if want.Check() != nil {
				want.PatientsVisibility = VisibilityOwner
			}
			if got := Effective(cfg, stored); got != want {
				t.Fatalf("configured %q, stored %q: %+v, want %+v", cv, sv, got, want)
			}
		}
	}
	// The precedence itself: configuration, then a stored choice, then the default.
	cfg := &config.Config{}
	cfg.Doctors.Writes = WritesAdmin
	got := Effective(cfg, map[string]string{DoctorsWrites: WritesAny, Registration: RegistrationClosed, PatientsVisibility: "bogus"})
	if want := (Policies{Registration: RegistrationClosed, PatientsVisibility: VisibilityOwner, DoctorsWrites: WritesAdmin}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	stored := map[string]string{Registration: RegistrationClosed, PatientsVisibility: VisibilityClinic}
	if a := testing.AllocsPerRun(100, func() { Effective(cfg, stored) }); a != 0 {
		t.Errorf("Effective allocates %v times per call", a)
	}
}
