//go:build unix

package cli_test

// Process-level tests: they build the real binary once and run it as a subprocess, the way users,
// Docker and CI run it. When the tests run as root, the binary itself drops privileges (this
// package deliberately does not use dbtest.Main, which would drop the test process's).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcare/app/database/dbtest"
)

var binary string // the healthcare binary built by TestMain

func TestMain(m *testing.M) {
	// Everything the tests and the binaries they run put in the temp directory is checked for
	// leftovers at the end (dbtest.PrivateTempDir).
	done, err := dbtest.PrivateTempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if err := done(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	// World-traversable, so the binary also runs as the unprivileged users below.
	dir, err := os.MkdirTemp("", "healthcare-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	binary = filepath.Join(dir, "healthcare")
	cmd := exec.Command("go", "build", "-tags", strings.Join(buildTags, ","), "-o", binary, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// buildTags are the tags the binary under test is built with (bundle_pg_test.go adds bundle_pg).
var buildTags []string

// moduleRoot is where go build runs: the directory holding go.mod.
func moduleRoot() (string, error) { return dbtest.ModuleRoot() }

// tempDir is a fresh directory under the system temp dir (never under /root), traversable by the
// unprivileged user the binary switches to, removed when the test ends.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "healthcare-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopStrayPostgres(t, dir)
		os.RemoveAll(dir)
	})
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// baseEnv is the test's environment without any setting that would reach the binary's config.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HEALTHCARE_") || k == "DATABASE_URL" || strings.HasPrefix(k, "DB_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// run executes the binary to completion and returns its exit code and combined output.
func run(t *testing.T, o opts, args ...string) (int, string) {
	t.Helper()
	p := launch(t, o, args...)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("healthcare %s did not finish:\n%s", strings.Join(args, " "), p.out.String())
	}
	return p.code, p.out.String()
}

// opts describe how to run the binary.
type opts struct {
	DataDir string   // HEALTHCARE_DATA_DIR when set
	Port    int      // HEALTHCARE_SERVER_ADDR=127.0.0.1:Port when set (Addr wins)
	Addr    string   // HEALTHCARE_SERVER_ADDR
	Env     []string // more variables
	WorkDir string   // where ./config.yaml and .env are read; default: a fresh empty directory
	User    *user.User
	Stdin   string // standard input (not a terminal)
}

// proc is a running (or finished) healthcare process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *syncBuffer
	URL     string // http://127.0.0.1:port
	DataDir string
	done    chan struct{}
	code    int
	started time.Time
}

func launch(t *testing.T, o opts, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = baseEnv()
	p := &proc{t: t, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{}), DataDir: o.DataDir}
	if o.DataDir != "" {
		cmd.Env = append(cmd.Env, "HEALTHCARE_DATA_DIR="+o.DataDir)
	}
	addr := o.Addr
	if addr == "" && o.Port != 0 {
		addr = "127.0.0.1:" + strconv.Itoa(o.Port)
	}
	if addr != "" {
		cmd.Env = append(cmd.Env, "HEALTHCARE_SERVER_ADDR="+addr)
		_, port, _ := net.SplitHostPort(addr)
		p.URL = "http://127.0.0.1:" + port
	}
	cmd.Env = append(cmd.Env, o.Env...) // last: wins over the above
	cmd.Dir = o.WorkDir
	if cmd.Dir == "" {
		cmd.Dir = tempDir(t)
	}
	if o.User != nil {
		uid, _ := strconv.Atoi(o.User.Uid)
		gid, _ := strconv.Atoi(o.User.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(cmd.Env, "HOME="+o.User.HomeDir, "USER="+o.User.Username)
	}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.Stdin = strings.NewReader(o.Stdin)
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		p.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = -int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1000
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("output of healthcare %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// serve starts `healthcare serve` and waits until /readyz answers 200; it returns the process
// and the time from start to ready.
func serve(t *testing.T, o opts) (*proc, time.Duration) {
	t.Helper()
	pick := o.Port == 0 && o.Addr == ""
	for attempt := 0; ; attempt++ {
		if pick {
			o.Port = freePort(t)
		}
		p := launch(t, o, "serve")
		// Another test process may take the free port between our check and the binary's listen.
		if pick && attempt < 3 && p.exitedWith("the port is already in use") {
			continue
		}
		return p, p.waitReady()
	}
}

// exitedWith reports whether the process exits during its start-up with msg in its output.
func (p *proc) exitedWith(msg string) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-p.done:
			return strings.Contains(p.out.String(), msg)
		default:
		}
		if strings.Contains(p.out.String(), `"msg":"data directory"`) {
			return false // past the listen
		}
	}
	return false
}

func (p *proc) waitReady() time.Duration {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("healthcare exited with code %d before it was ready:\n%s", p.code, p.out.String())
		default:
		}
		resp, err := client.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			// The log reaches p.out through a pipe copied by another goroutine, so a 200 can
			// arrive before the start-up lines do: wait for the last of them too.
			if resp.StatusCode == 200 && strings.Contains(p.out.String(), "ready: open") {
				return time.Since(p.started)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("healthcare was not ready after 90 s:\n%s", p.out.String())
	return 0
}

// stop sends sig and waits for the exit; it returns the exit code and how long the exit took.
func (p *proc) stop(sig syscall.Signal) (int, time.Duration) {
	p.t.Helper()
	begin := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("healthcare did not exit within 60 s of %v:\n%s", sig, p.out.String())
	}
	return p.code, time.Since(begin)
}

// logLines returns the process's JSON log lines (its output is not a terminal, so logs are JSON).
func (p *proc) logLines() []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// request sends one HTTP request to the process.
func (p *proc) request(method, path string, body any, header ...string) (int, http.Header, []byte) {
	p.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, p.URL+path, r)
	if err != nil {
		p.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// embeddedConn connects to the embedded server of dataDir as its superuser, using the port in
// postmaster.pid and the password the binary keeps in the data directory.
func embeddedConn(t *testing.T, dataDir, database string) *pgx.Conn {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(pid), "\n")
	if len(lines) < 4 {
		t.Fatalf("short postmaster.pid: %q", pid)
	}
	pw, err := os.ReadFile(filepath.Join(dataDir, "postgres.secret"))
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/%s?sslmode=disable", strings.TrimSpace(string(pw)), strings.TrimSpace(lines[3]), database)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// postmasterPID reads the pid of the embedded server from postmaster.pid.
func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// procInfo is what /proc says about one process.
type procInfo struct {
	PID, PPID int
	State     string
	UIDs      []int // real, effective, saved, filesystem
	Cmdline   string
	Exe       string
}

func readProc(pid int) (procInfo, bool) {
	pi := procInfo{PID: pid}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return pi, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		switch k {
		case "State":
			if len(f) > 0 {
				pi.State = f[0]
			}
		case "PPid":
			if len(f) > 0 {
				pi.PPID, _ = strconv.Atoi(f[0])
			}
		case "Uid":
			for _, s := range f {
				n, _ := strconv.Atoi(s)
				pi.UIDs = append(pi.UIDs, n)
			}
		}
	}
	cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	pi.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
	pi.Exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return pi, true
}

// alive reports whether pid runs (a zombie waiting for its reaper does not count).
func alive(pid int) bool {
	pi, ok := readProc(pid)
	return ok && pi.State != "Z" && pi.State != "X"
}

func allProcs() []procInfo {
	entries, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pi, ok := readProc(pid); ok {
			out = append(out, pi)
		}
	}
	return out
}

// postgresFamily returns the postmaster of dataDir and its children (the children rename
// themselves, so they are found by parent pid).
func postgresFamily(dataDir string) []procInfo {
	if dataDir == "" {
		panic("postgresFamily: no data directory")
	}
	procs := allProcs()
	var fam []procInfo
	for _, pi := range procs {
		if strings.Contains(pi.Cmdline, dataDir) && strings.Contains(filepath.Base(strings.Fields(pi.Cmdline + " x")[0]), "postgres") {
			fam = append(fam, pi)
			for _, c := range procs {
				if c.PPID == pi.PID && c.State != "Z" {
					fam = append(fam, c)
				}
			}
		}
	}
	return fam
}

// stopStrayPostgres is the safety net after a failed test: an immediate shutdown (SIGQUIT) of any
// postmaster still running on a directory under dir.
func stopStrayPostgres(t *testing.T, dir string) {
	for _, pi := range postgresFamily(dir) {
		if strings.Contains(pi.Cmdline, dir) {
			t.Logf("stopping a PostgreSQL server left running: pid %d %s", pi.PID, pi.Cmdline)
			syscall.Kill(pi.PID, syscall.SIGQUIT)
		}
	}
	for i := 0; i < 100 && len(postgresFamily(dir)) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// vmRSS is the resident set of pid in KiB.
func vmRSS(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// requireRoot fails in CI (which runs as root) and skips elsewhere when the tests are not root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test must run as root in CI (CI is set): run .ci/run as root")
	}
	t.Skip("not root: the privilege drop is tested only when the tests run as root (as .ci/run does)")
}
