package database

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The postmaster is started by this process itself, as its child, instead of through
// embedded-postgres's Start (which deletes a data directory it finds invalid, and leaves a
// process nobody waits for). Being the parent, the process knows at once when PostgreSQL dies
// and restarts it; the stop is ours to bound.

// Supervision: a postmaster that dies is restarted after these delays; when it cannot be started
// again after the last one, or dies more than maxRestarts times within restartWindow, the server
// gives up so that Docker or systemd restart the whole program.
var (
	restartDelays = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	maxRestarts   = 5
	restartWindow = 10 * time.Minute
)

// postmaster runs and watches one PostgreSQL server process.
type postmaster struct {
	bin      binaries
	cluster  string
	hbaFile  string
	logPath  string
	port     int
	params   map[string]string
	password string // superuser's, for the readiness probe
	// socketDir is where PostgreSQL also listens on a Unix socket ("" when it does not).
	socketDir string
	log       *slog.Logger

	startMu  sync.Mutex // held while a postmaster is launched and registered, so stop sees it
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
	waitErr  error         // cmd.Wait's result, set before exited is closed
	stopping bool
	up       bool

	failed  chan struct{} // closed when supervision gave up
	failErr error
}

// args is the postgres command line: every setting on it, so nothing in the cluster's own
// postgresql.conf (which an older version of this program or a human may have edited) is needed.
func (p *postmaster) args() []string {
	a := []string{"-D", p.cluster, "-p", strconv.Itoa(p.port), "-c", "hba_file=" + filepath.ToSlash(p.hbaFile)}
	keys := make([]string, 0, len(p.params))
	for k := range p.params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "-c", k+"="+p.params[k])
	}
	return a
}

// start launches the postmaster and waits until it accepts connections, it exits, or timeout.
func (p *postmaster) start(ctx context.Context, timeout time.Duration) error {
	logf, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the PostgreSQL log %s: %v", p.logPath, unwrapPath(err))
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(p.bin.BinDir, "postgres"+exeSuffix), p.args()...)
	cmd.Dir = p.cluster
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C on the terminal reaches this program only, which then
	// stops PostgreSQL in order (after the HTTP server and the pool).
	cmd.SysProcAttr = childProcAttr()
	cmd.Env = append(os.Environ(), "LC_MESSAGES=C", "LANG=C.UTF-8")
	p.startMu.Lock()
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if stopping {
		p.startMu.Unlock()
		return errors.New("the server is stopping")
	}
	if err := cmd.Start(); err != nil {
		p.startMu.Unlock()
		return fmt.Errorf("cannot run %s: %v", cmd.Path, err)
	}
	if err := bindChild(cmd); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		p.startMu.Unlock()
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	p.startMu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.up = false
		p.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("PostgreSQL exited during start-up (%v)", p.waitErr)
		case <-ctx.Done():
			p.kill(5 * time.Second)
			return ctx.Err()
		default:
		}
		err := p.ping(ctx)
		if err == nil {
			p.mu.Lock()
			p.up = true
			p.mu.Unlock()
			return nil
		}
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000") {
			// The server runs but refuses the password: waiting would not help.
			p.mu.Lock()
			cmd := p.cmd
			p.mu.Unlock()
			if !p.sigWait(cmd, exited, shutdownFast, 10*time.Second) {
				p.kill(5 * time.Second)
			}
			return fmt.Errorf("%w (%s)", errWrongPassword, pe.Message)
		}
		if time.Now().After(deadline) {
			p.kill(5 * time.Second)
			return fmt.Errorf("PostgreSQL did not accept connections within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errWrongPassword: the server refused the superuser password kept in postgres.secret.
var errWrongPassword = errors.New("PostgreSQL refused the superuser password")

// ping connects once as the superuser.
func (p *postmaster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, superURL(p.port, p.password, "postgres"))
	if err != nil {
		return err
	}
	return conn.Close(context.Background())
}

// supervise restarts the postmaster whenever it exits without being asked to, until stop.
func (p *postmaster) supervise() {
	var deaths []time.Time
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		<-exited
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		waitErr := p.waitErr
		p.mu.Unlock()

		now := time.Now()
		deaths = append(deaths, now)
		for len(deaths) > 0 && now.Sub(deaths[0]) > restartWindow {
			deaths = deaths[1:]
		}
		p.log.Error("embedded PostgreSQL stopped unexpectedly; restarting it (API requests answer 503 meanwhile)",
			"exit", describeExit(waitErr), "postgres_log", p.lastLog(), "log_tail", logTail(p.lastLog(), 5))
		if len(deaths) > maxRestarts {
			p.giveUp(fmt.Errorf("the embedded PostgreSQL server stopped %d times within %s; giving up so that the service manager restarts the program (see %s)", len(deaths), restartWindow, p.lastLog()))
			return
		}
		var err error
		for i, d := range restartDelays {
			time.Sleep(d)
			p.mu.Lock()
			stopping := p.stopping
			p.mu.Unlock()
			if stopping {
				return
			}
			if err = p.start(context.Background(), 60*time.Second); err == nil {
				p.log.Warn("embedded PostgreSQL restarted; service resumes", "attempt", i+1, "port", p.port)
				break
			}
			p.mu.Lock()
			stopping = p.stopping
			p.mu.Unlock()
			if stopping {
				return // the program is stopping: not a failed restart
			}
			p.log.Error("embedded PostgreSQL did not restart; trying again", "attempt", i+1, "error", err, "log_tail", logTail(p.lastLog(), 5))
		}
		if err != nil {
			p.giveUp(fmt.Errorf("the embedded PostgreSQL server could not be restarted after %d attempts (%v); see %s", len(restartDelays), err, p.lastLog()))
			return
		}
	}
}

func (p *postmaster) giveUp(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failErr == nil {
		p.failErr = err
		close(p.failed)
	}
}

// stop shuts PostgreSQL down within timeout: fast shutdown (SIGINT: sessions end, a checkpoint is
// written), then immediate shutdown (SIGQUIT: crash recovery at the next start, nothing
// acknowledged is lost), then SIGKILL to its process group. A server that is already gone is not
// an error.
func (p *postmaster) stop(timeout time.Duration) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.startMu.Lock() // a restart in progress registers its process first
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	p.startMu.Unlock()
	if cmd == nil {
		return nil
	}
	// Fast shutdown gets three quarters of the budget, immediate shutdown (which only has to stop
	// processes) the rest; the SIGKILL after them adds at most a second.
	fast := timeout * 3 / 4
	if fast >= 100*time.Millisecond {
		if p.sigWait(cmd, exited, shutdownFast, fast) {
			return nil
		}
		p.log.Warn("embedded PostgreSQL did not stop in time; immediate shutdown", "waited", fast.String())
	}
	if p.sigWait(cmd, exited, shutdownImmediate, max(timeout-fast, 250*time.Millisecond)) {
		return nil
	}
	return p.kill(time.Second)
}

// kill ends the postmaster and its children at once.
func (p *postmaster) kill(wait time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	killChild(cmd)
	select {
	case <-exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("the embedded PostgreSQL server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// shutdownMode is how PostgreSQL is asked to stop: fast (SIGINT: sessions end, a checkpoint is
// written) or immediate (SIGQUIT: crash recovery at the next start).
type shutdownMode int

const (
	shutdownFast shutdownMode = iota
	shutdownImmediate
)

// sigWait asks the postmaster to shut down in mode and waits for its exit up to d.
func (p *postmaster) sigWait(cmd *exec.Cmd, exited chan struct{}, mode shutdownMode, d time.Duration) bool {
	select {
	case <-exited:
		return true
	default:
	}
	if err := p.signalShutdown(cmd, mode); err != nil {
		// Already exited (and reaped by the waiter, or about to be).
		select {
		case <-exited:
			return true
		case <-time.After(time.Second):
			return false
		}
	}
	select {
	case <-exited:
		return true
	case <-time.After(d):
		return false
	}
}

func describeExit(err error) string {
	if err == nil {
		return "exited with status 0 (stopped from outside, e.g. pg_ctl stop)"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
	}
	return err.Error()
}

// superURL is the superuser's connection URL on 127.0.0.1:port.
func superURL(port int, password, database string) string {
	return connURL(superuser, password, port, database)
}

// socketURL is user's connection URL through the Unix socket in dir of the server on port.
func socketURL(user, password, dir string, port int, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Path:     "/" + database,
		RawQuery: url.Values{"host": {dir}, "port": {strconv.Itoa(port)}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}

func connURL(user, password string, port int, database string) string {
	if database == "" {
		database = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// lastLog is the PostgreSQL log file written last (start-up output or the collector's current file).
func (p *postmaster) lastLog() string { return newestLog(filepath.Dir(p.logPath)) }

// logTail returns the last n non-empty lines of the file at path (at most 64 KiB are read), for
// error messages: with log_error_verbosity terse PostgreSQL's log holds no row contents.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	const max = 64 << 10
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && len(buf) == 0 {
		return ""
	}
	var lines []string
	for _, l := range bytes.Split(buf, []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
