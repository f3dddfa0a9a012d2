//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull fills a real disk: the patients table lives in a tablespace on a 1 MiB tmpfs that a
// filler file takes up entirely. Creating a patient then answers 507 with the sentence for the
// user, saves nothing, and is logged as a warning without the patient's fields; once space is
// freed the same request succeeds. (Only the tablespace is full: PostgreSQL's WAL is elsewhere,
// so the server itself keeps running, as it does when a data disk fills.)
func TestDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting the small filesystem needs root (CI runs the tests as root)")
	}
	dataDir := filepath.Join(tempDir(t), "data")
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "alice")
	token := login(t, p, "alice")

	pg, err := user.Lookup("postgres") // embedded.run_as: the user the binary switched to
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(tempDir(t), "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700,uid="+pg.Uid+",gid="+pg.Gid, "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs, so the real full disk is not tested (the SQLSTATE 53100 mapping is tested in app/api): mount: %v: %s", err, strings.TrimSpace(string(out)))
	}
	// Lazy: it also succeeds if PostgreSQL still has the tablespace's files open.
	t.Cleanup(func() { _ = exec.Command("umount", "-l", small).Run() })

	conn := embeddedConn(t, dataDir, "healthcare")
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE TABLESPACE small LOCATION '" + small + "'",
		"ALTER TABLE patients SET TABLESPACE small",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	filler := filepath.Join(small, "filler")
	fillDisk(t, filler)

	patient := map[string]any{"name": "Jane Fullerton", "age": 41, "gender": "F", "address": "9 Quota Lane", "phone_number": "555-0199"}
	status, header, body := p.request("POST", "/api/patients/", patient, "Authorization", "Bearer "+token, "X-Request-ID", "disk-full-1")
	want := `{"detail":"The server's disk is full: nothing was saved. Ask the administrator to free disk space."}`
	if status != 507 || string(body) != want || header.Get("Retry-After") != "" {
		t.Errorf("create on a full disk: %d %s (Retry-After %q), want 507 %s", status, body, header.Get("Retry-After"), want)
	}
	if n := patientCount(t, p, token); n != 0 {
		t.Errorf("%d patients after the refused create, want 0", n)
	}
	warned := false
	for _, line := range p.logLines() {
		if line["request_id"] == "disk-full-1" && line["msg"] == "the database cannot serve requests" {
			warned = line["level"] == "WARN" && line["status"] == float64(507)
		}
	}
	if !warned {
		t.Errorf("no warning for the refused create:\n%s", p.out.String())
	}
	for _, field := range []string{"Fullerton", "Quota", "555-0199"} {
		if strings.Contains(p.out.String(), field) {
			t.Errorf("the log holds the patient's %q", field)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, _, body := p.request("POST", "/api/patients/", patient, "Authorization", "Bearer "+token); status != 201 {
		t.Errorf("create after space was freed: %d %s", status, body)
	}
	if n := patientCount(t, p, token); n != 1 {
		t.Errorf("%d patients after space was freed, want 1", n)
	}
	conn.Close(ctx)
	stopAndCheck(t, p)
}

// fill writes path until its filesystem has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

func patientCount(t *testing.T, p *proc, token string) int {
	t.Helper()
	status, _, body := p.request("GET", "/api/patients/", nil, "Authorization", "Bearer "+token)
	var list []json.RawMessage
	if status != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("list patients: %d %s", status, body)
	}
	return len(list)
}
