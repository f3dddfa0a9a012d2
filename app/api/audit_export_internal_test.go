package api

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"healthcare/app/store"
)

// An export that stops at an error says so in its last line (its status went out with the first
// rows); a complete one has no such line.
func TestAuditExportSaysWhenCutShort(t *testing.T) {
	two := func(fail error) func(fn func(store.AuditEvent) error) error {
		return func(fn func(store.AuditEvent) error) error {
			for i := range 2 {
				if err := fn(store.AuditEvent{Seq: int64(i + 1), Action: "read", Resource: "patient", Status: 200}); err != nil {
					return err
				}
			}
			return fail
		}
	}
	var whole, cut bytes.Buffer
	if err := writeAuditCSV(&whole, two(nil)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection lost")
	if err := writeAuditCSV(&cut, two(boom)); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	lines := func(b bytes.Buffer) []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }
	if l := lines(whole); len(l) != 3 || strings.Contains(whole.String(), "INCOMPLETE") {
		t.Fatalf("complete export: %q", l)
	}
	if l := lines(cut); len(l) != 4 || l[3] != auditExportIncomplete {
		t.Fatalf("cut export: %q", l)
	}
}
