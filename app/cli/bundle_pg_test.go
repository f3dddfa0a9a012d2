//go:build bundle_pg && unix

package cli_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() { buildTags = append(buildTags, "bundle_pg") }

// TestServeBundledPostgres runs a bundle_pg binary the way a release runs on a machine without
// PostgreSQL: embedded.binaries=bundled, so the installed server is never looked at. The first
// start extracts PostgreSQL into the data directory and says which one runs; the second reuses
// it, and the data written in between is there.
func TestServeBundledPostgres(t *testing.T) {
	code, out := run(t, opts{}, "version")
	if code != 0 || !strings.Contains(out, "postgresql 17.") || !strings.Contains(out, "(inside)") {
		t.Fatalf("version: %d %s", code, out)
	}
	dir := tempDir(t)
	dataDir := filepath.Join(dir, "data")
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_EMBEDDED_BINARIES=bundled", "HEALTHCARE_LOG_FORMAT=json"}}

	p, cold := serve(t, o)
	bin := filepath.Join(dataDir, "pg-binaries")
	var found map[string]any
	for _, l := range p.logLines() {
		if l["msg"] == "PostgreSQL (embedded)" {
			found = l
		}
	}
	if found == nil || found["found"] != "bundled" || !strings.HasPrefix(found["version"].(string), "17.") ||
		!strings.HasPrefix(found["bin"].(string), bin+string(filepath.Separator)) {
		t.Fatalf("start-up line: %v\n%s", found, p.out.String())
	}
	if !strings.Contains(p.out.String(), "extracting the PostgreSQL inside this program") {
		t.Fatal("no extraction logged at the first start")
	}
	register(t, p, "bundled")
	token := login(t, p, "bundled")
	auth := []string{"Authorization", "Bearer " + token}
	if st, _, body := p.request("POST", "/api/patients/", map[string]any{"name": "Ada", "age": 36, "gender": "F", "address": "1 Main St", "phone_number": "+15550001"}, auth...); st != 201 {
		t.Fatalf("create patient: %d %s", st, body)
	}
	if code, took := p.stop(syscall.SIGTERM); code != 0 || took > 10*time.Second {
		t.Fatalf("stop: code %d after %s", code, took)
	}

	p2, warm := serve(t, o)
	if strings.Contains(p2.out.String(), "extracting") {
		t.Fatal("extracted again at the second start")
	}
	if st, _, body := p2.request("GET", "/api/patients/", nil, "Authorization", "Bearer "+login(t, p2, "bundled")); st != 200 || !strings.Contains(string(body), "Ada") {
		t.Fatalf("patients after restart: %d %s", st, body)
	}
	t.Logf("bundled PostgreSQL: first start (extract + initdb) %s, second start %s", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
}
