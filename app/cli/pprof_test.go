//go:build unix

package cli_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPprofServesProfilesAndQueries: serve --pprof refuses an address beyond loopback; on loopback
// it serves Go's profiler and the database statements the server ran (/debug/queries), which
// count the requests' round trips and show statement texts, never their values.
func TestPprofServesProfilesAndQueries(t *testing.T) {
	t.Parallel()
	code, out := run(t, opts{DataDir: filepath.Join(tempDir(t), "data"), Port: freePort(t)}, "serve", "--pprof", "0.0.0.0:6060")
	if code == 0 || !strings.Contains(out, "only listens on loopback") {
		t.Fatalf("--pprof 0.0.0.0:6060: code %d:\n%s", code, out)
	}

	pprofAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := launch(t, opts{DataDir: filepath.Join(tempDir(t), "data"), Port: freePort(t)}, "serve", "--pprof", pprofAddr)
	p.waitReady()
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + pprofAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if out := get("/debug/pprof/"); !strings.Contains(out, "goroutine") {
		t.Fatalf("/debug/pprof/:\n%s", out)
	}
	register(t, p, "pat")
	token := login(t, p, "pat")
	var before int
	fmt.Sscanf(get("/debug/queries"), "round_trips %d", &before)
	for range 5 {
		if status, _, body := p.request("GET", "/api/auth/me/", nil, "Authorization", "Bearer "+token); status != 200 {
			t.Fatalf("me: %d %s", status, body)
		}
	}
	table := get("/debug/queries")
	var after int
	fmt.Sscanf(table, "round_trips %d", &after)
	// Each request alone: its session check is one statement (the audit trail's rows go in
	// batches of their own, and may land within the window).
	if after-before < 5 || after-before > 7 {
		t.Errorf("round trips %d → %d for 5 requests one after the other, want 5 (or a batch of audit rows more):\n%s", before, after, table)
	}
	for _, want := range []string{"calls", "SELECT k.i, r.*, (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM settings)"} {
		if !strings.Contains(table, want) {
			t.Errorf("/debug/queries lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "pat@example.com") || strings.Contains(table, password) {
		t.Errorf("/debug/queries shows a value:\n%s", table)
	}
}
