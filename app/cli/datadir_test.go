//go:build unix

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The data directory has one owner, a watched PostgreSQL, and keeps every acknowledged write:
// tried with real processes and signals, as an operator (or a reboot) would.

// TestSecondProcessIsRefused: a second serve or migrate on a data directory in use refuses in one
// sentence naming the running process, and the first keeps serving.
func TestSecondProcessIsRefused(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "first")
	pid := postmasterPID(t, dataDir)
	for _, cmd := range []string{"serve", "migrate"} {
		code, out := run(t, opts{DataDir: dataDir, Port: freePort(t)}, cmd)
		if code != 1 {
			t.Errorf("second %s: exit %d, want 1:\n%s", cmd, code, out)
		}
		want := fmt.Sprintf("in use by another healthcare process (pid %d, 'healthcare serve'", p.cmd.Process.Pid)
		if !strings.Contains(out, want) || !strings.Contains(out, "nothing was changed") {
			t.Errorf("second %s does not name the running process (%q):\n%s", cmd, want, out)
		}
	}
	if got := postmasterPID(t, dataDir); got != pid {
		t.Errorf("the running PostgreSQL was replaced (%d -> %d)", pid, got)
	}
	login(t, p, "first") // still serving
	stopAndCheck(t, p)
}

// TestSimultaneousFirstStarts: two first starts at once on a new directory: exactly one
// initialises and serves, the other refuses, and the directory starts again afterwards.
func TestSimultaneousFirstStarts(t *testing.T) {
	t.Parallel()
	for round := 0; round < 3; round++ {
		dataDir := fmt.Sprintf("%s/data%d", tempDir(t), round)
		a := launch(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
		b := launch(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
		var winner *proc
		deadline := time.Now().Add(90 * time.Second)
		for winner == nil && time.Now().Before(deadline) {
			for _, p := range []*proc{a, b} {
				if strings.Contains(p.out.String(), "ready: open") {
					winner = p
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if winner == nil {
			t.Fatalf("round %d: neither start became ready:\nA:\n%s\nB:\n%s", round, a.out.String(), b.out.String())
		}
		loser := a
		if winner == a {
			loser = b
		}
		select {
		case <-loser.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: the second start neither served nor exited", round)
		}
		if loser.code != 1 || !strings.Contains(loser.out.String(), "is in use by another healthcare process") {
			t.Fatalf("round %d: the loser exited %d:\n%s", round, loser.code, loser.out.String())
		}
		register(t, winner, "winner")
		stopAndCheck(t, winner)
		again, _ := serve(t, opts{DataDir: dataDir})
		login(t, again, "winner")
		stopAndCheck(t, again)
	}
}

// TestPostmasterDeathIsSurvived: the embedded postmaster killed, or stopped from outside with
// pg_ctl, comes back without a human; the process keeps serving with every row.
func TestPostmasterDeathIsSurvived(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "nina")
	for i, kill := range []func(pid int){
		func(pid int) { syscall.Kill(pid, syscall.SIGKILL) },
		func(pid int) { syscall.Kill(pid, syscall.SIGINT) }, // what pg_ctl stop -m fast sends
	} {
		old := postmasterPID(t, dataDir)
		kill(old)
		waitNewPostmaster(t, dataDir, old)
		p.waitReady()
		login(t, p, "nina")
		// The pool may reconnect (and a login pass) just before the supervisor logs the restart,
		// and the log reaches p.out through a pipe: wait for the line.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) &&
			strings.Count(p.out.String(), "embedded PostgreSQL restarted") < i+1; {
			time.Sleep(20 * time.Millisecond)
		}
		if n := strings.Count(p.out.String(), "embedded PostgreSQL restarted"); n != i+1 {
			t.Errorf("restart %d not logged (%d lines):\n%s", i+1, n, p.out.String())
		}
	}
	stopAndCheck(t, p)
}

func waitNewPostmaster(t *testing.T, dataDir string, old int) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pid := readPostmasterPID(dataDir); pid != 0 && pid != old && alive(pid) {
			return
		}
	}
	t.Fatalf("no new postmaster in %s after %d died", dataDir, old)
}

// TestNoAcknowledgedWriteIsLost: concurrent writers create patients while the app (5 rounds) and
// then the postmaster (5 rounds) are SIGKILLed; every patient whose 201 reached its client is
// there afterwards.
func TestNoAcknowledgedWriteIsLost(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_RATE_LIMIT_ENABLED=false"}}
	p, _ := serve(t, o)
	register(t, p, "writer")
	token := login(t, p, "writer") // tokens outlive restarts: the secret is in the data directory
	var acked sync.Map             // phone number -> true
	var seq atomic.Int64
	write := func(p *proc, token string, stop <-chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			phone := fmt.Sprintf("+1%09d", seq.Add(1))
			status, _, _ := p.requestQuiet("POST", "/api/patients/", map[string]any{
				"name": "P " + phone, "age": 40, "gender": "F", "address": "1 Main St", "phone_number": phone}, "Authorization", "Bearer "+token)
			if status == 201 {
				acked.Store(phone, true)
			}
		}
	}
	round := func(kill func()) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go write(p, token, stop, &wg)
		}
		time.Sleep(300 * time.Millisecond)
		kill()
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	for i := 0; i < 5; i++ {
		round(func() { p.cmd.Process.Kill() })
		<-p.done
		p, _ = serve(t, o)
	}
	for i := 0; i < 5; i++ {
		old := postmasterPID(t, dataDir)
		round(func() { syscall.Kill(old, syscall.SIGKILL) })
		waitNewPostmaster(t, dataDir, old)
		p.waitReady()
	}
	present := map[string]bool{}
	rows, err := embeddedConn(t, dataDir, "healthcare").Query(context.Background(), "SELECT phone_number FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var phone string
		rows.Scan(&phone)
		present[phone] = true
	}
	rows.Close()
	n, lost := 0, 0
	acked.Range(func(k, _ any) bool {
		n++
		if !present[k.(string)] {
			lost++
			t.Errorf("acknowledged patient %s is gone", k)
		}
		return true
	})
	if n < 50 {
		t.Fatalf("only %d writes were acknowledged: the test did not exercise anything", n)
	}
	t.Logf("%d acknowledged writes across 10 kills, %d lost (%d rows in all)", n, lost, len(present))
	stopAndCheck(t, p)
}

// requestQuiet is request without failing the test when the connection breaks (the server is
// being killed): status 0 then.
func (p *proc) requestQuiet(method, path string, body any, header ...string) (int, http.Header, []byte) {
	j, _ := json.Marshal(body)
	req, err := http.NewRequest(method, p.URL+path, bytes.NewReader(j))
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// readPostmasterPID is postmasterPID without failing: 0 when there is none.
func readPostmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// TestServeExitsWhenPostgresCannotComeBack: when the postmaster dies and cannot be restarted, the
// program stops serving and exits 1, so that Docker or systemd restart it; nothing is lost.
func TestServeExitsWhenPostgresCannotComeBack(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "olga")
	cluster := filepath.Join(dataDir, "postgres")
	// PostgreSQL refuses a data directory others may read: every restart fails.
	if err := os.Chmod(cluster, 0o755); err != nil { // 0750 is allowed since PostgreSQL 11
		t.Fatal(err)
	}
	syscall.Kill(postmasterPID(t, dataDir), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("still running after PostgreSQL could not be restarted:\n%s", p.out.String())
	}
	if p.code != 1 || !strings.Contains(p.out.String(), "could not be restarted") {
		t.Fatalf("exit %d:\n%s", p.code, p.out.String())
	}
	os.Chmod(cluster, 0o700)
	p, _ = serve(t, opts{DataDir: dataDir})
	login(t, p, "olga")
	stopAndCheck(t, p)
}

// TestSIGKILLDuringInitdb: the app SIGKILLed while initdb creates the cluster takes initdb with it
// (a surviving initdb kept writing into postgres.initdb while the next start removed and re-created
// it: that start failed, "could not open file .../postgresql.conf"); the next start initialises
// afresh and serves, and no copy of the superuser password is left in a temporary file.
func TestSIGKILLDuringInitdb(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p := launch(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
	initdb := 0
	for deadline := time.Now().Add(60 * time.Second); initdb == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("initdb never ran:\n%s", p.out.String())
		}
		for _, pi := range allProcs() {
			if strings.HasSuffix(strings.Fields(pi.Cmdline + " x")[0], "/initdb") && strings.Contains(pi.Cmdline, dataDir) {
				initdb = pi.PID
			}
		}
	}
	p.stop(syscall.SIGKILL)
	for deadline := time.Now().Add(time.Second); alive(initdb); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("initdb (pid %d) still runs 1 s after the app was SIGKILLed", initdb)
		}
	}
	again, _ := serve(t, opts{DataDir: dataDir})
	register(t, again, "olga")
	if left, _ := filepath.Glob(filepath.Join(dataDir, ".initdb-pw-*")); len(left) > 0 {
		t.Errorf("a temporary copy of the superuser password is left: %v", left)
	}
	stopAndCheck(t, again)
}

// TestDeletedLockFileStillRefuses: an operator who removes healthcare.lock ("a stale lock file")
// while the server runs does not let a second serve in: it refuses, and the first one's
// PostgreSQL is not stopped as if it were an orphan.
func TestDeletedLockFileStillRefuses(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	p, _ := serve(t, opts{DataDir: dataDir})
	register(t, p, "petra")
	pid := postmasterPID(t, dataDir)
	if err := os.Remove(filepath.Join(dataDir, "healthcare.lock")); err != nil {
		t.Fatal(err)
	}
	code, out := run(t, opts{DataDir: dataDir, Port: freePort(t)}, "serve")
	if code != 1 || !strings.Contains(out, "in use by another healthcare process") {
		t.Errorf("second serve after the lock file was removed: exit %d:\n%s", code, out)
	}
	if !alive(pid) || readPostmasterPID(dataDir) != pid {
		t.Errorf("the running PostgreSQL %d was stopped or replaced", pid)
	}
	login(t, p, "petra")
	stopAndCheck(t, p)
}
