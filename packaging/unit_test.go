package packaging

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSystemdUnit checks packaging/healthcare.service with systemd's own parser (offline, no
// systemd needed): no unknown or misspelt key, and an exposure level of 2.0 or lower ("OK") in
// systemd-analyze security. It also keeps the settings the README promises.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("healthcare.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=healthcare",
		"KillMode=mixed", "Environment=HEALTHCARE_DATA_DIR=/var/lib/healthcare"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("healthcare.service lacks %s", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (apt install systemd): the unit's syntax was not checked")
	}
	out, err := exec.Command("systemd-analyze", "--offline=true", "security", "--threshold=20", "healthcare.service").CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v (exposure above 2.0?)\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Unknown") || strings.Contains(l, "Invalid") || strings.Contains(l, "Failed to parse") {
			t.Errorf("systemd-analyze: %s", l)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Overall exposure level") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
