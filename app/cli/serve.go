package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"healthcare/app/auth"
	"healthcare/app/certs"
	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/maintenance"
	"healthcare/app/privilege"
	"healthcare/app/server"
	"healthcare/app/store"
)

// stopSignals end serve and migrate in order. SIGHUP is among them: a closed terminal would
// otherwise kill the process by Go's default action and leave PostgreSQL (in its own process group)
// running.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// serve runs the server until SIGINT, SIGTERM or SIGHUP, then stops it in order: HTTP (in-flight requests
// finish), the pool, PostgreSQL.
func serve(cmd *cobra.Command, a Assets, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// Opened while still root, so a port below 1024 works; a taken port or a bad address is
	// found before anything touches the data directory.
	ln, err := listen(cfg.Server.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var redirectLn net.Listener // server.http_addr: plain HTTP that only redirects to HTTPS
	if cfg.Server.TLSOn() && cfg.Server.HTTPAddr != "" {
		if redirectLn, err = listen(cfg.Server.HTTPAddr); err != nil {
			return err
		}
		defer redirectLn.Close()
	}
	if err := prepare(cfg, true, log); err != nil {
		return err
	}
	log, logFile, err := openLogFile(cfg, log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cfg.Log.File != "" {
		reportDatabase(log, cfg) // the file's reader sees it too
	}
	lock, err := lockDataDir(cfg, "serve")
	if err != nil {
		return err
	}
	defer lock.Release()
	if lock != nil {
		lock.SetHTTP(ln.Addr().String())
	}
	// The certificate is ready (or refused) before PostgreSQL starts (under the data directory's lock: a
	// self-signed one is generated once).
	tlsSetup, err := certs.Load(certs.Options{Mode: cfg.Server.TLS, CertFile: cfg.Server.TLSCert, KeyFile: cfg.Server.TLSKey,
		DataDir: cfg.DataDir, Domains: cfg.Server.TLSDomains, ACMEDirectory: cfg.Server.ACMEDirectory,
		ACMEEmail: cfg.Server.ACMEEmail, ACMECAFile: cfg.Server.ACMECAFile, Log: log})
	if err != nil {
		return configError(err)
	}
	// The connection limits count TCP connections, under TLS: fasthttp must see the *tls.Conn
	// itself to know a request came over HTTPS (HSTS, c.Protocol()).
	httpLn := server.LimitConnections(ln, cfg.Server.MaxConnections, cfg.Server.MaxConnectionsPerAddress, log)
	if tlsSetup != nil {
		httpLn = tls.NewListener(httpLn, tlsSetup.Config)
	} else if !isLoopback(ln.Addr()) {
		log.Warn("listening beyond this machine without TLS: patient data and passwords cross the network readable by anyone on it; set server.tls (self-signed, files or acme), or listen on 127.0.0.1 behind an HTTPS proxy",
			"listen", ln.Addr().String(), "setting", "server.tls")
	}

	// SIGPIPE is ignored in Run.
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	var dbOpts []database.ConnectOption
	if addr, _ := cmd.Flags().GetString(pprofFlag); addr != "" {
		profileHeap(true)
		queries := database.NewQueryStats()
		dbOpts = append(dbOpts, database.WithQueryStats(queries))
		if err := startPprof(ctx, addr, queries, log); err != nil {
			return err
		}
	}

	db, err := openDatabase(ctx, cfg, log, dbOpts...)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("start-up was interrupted")
		}
		return err
	}
	defer db.Close()

	svc, err := newAuth(cfg, db, log)
	if err != nil {
		return err
	}
	if err := firstRun(ctx, cfg, store.New(db.Pool, cfg.Database.QueryTimeout), ln.Addr(), log); err != nil {
		return err
	}
	app := server.New(server.Options{Config: cfg, Pool: db.Pool, Auth: svc, UI: a.UI, Log: log, Version: Version})
	// Start-up garbage goes back to the OS now: the idle footprint is what a small clinic's
	// laptop sees.
	debug.FreeOSMemory()
	limitMemory(cfg)
	collectLessOften()
	reserveHashProcs()

	// Announced before serving, so whoever sees /readyz answer has the lines already.
	announce(log, cfg, db.Info, ln.Addr(), tlsSetup, redirectLn)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, app, httpLn, cfg.Server.ShutdownTimeout)
	}()
	if redirectLn != nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		redirect := &http.Server{Handler: tlsSetup.RedirectHandler(port), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		go redirect.Serve(redirectLn)
		defer redirect.Close()
	}

	// Periodic clean-ups, stopped (and waited for) before the pool closes.
	jobsCtx, cancelJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		jobs := maintenance.Jobs(cfg, store.New(db.Pool, cfg.Database.QueryTimeout), log)
		if cfg.EmbeddedMode() && cfg.Backup.Schedule > 0 {
			jobs = append(jobs, scheduledBackup(cfg, db.Pool, log))
		}
		maintenance.Run(jobsCtx, log, jobs)
	}()
	stopJobs := func() { cancelJobs(); <-jobsDone }
	defer stopJobs()

	var serveErr, failed error
	begin := time.Now()
	select {
	case serveErr = <-done:
		if ctx.Err() == nil { // the listener failed by itself
			stopJobs()
			db.Close()
			return fmt.Errorf("the HTTP server stopped: %v", serveErr)
		}
	case <-ctx.Done():
		begin = time.Now()
		log.Info("shutting down: finishing requests in flight", "timeout", cfg.Server.ShutdownTimeout.String())
		serveErr = <-done
	case <-db.Failed():
		// PostgreSQL died and could not be restarted: stop serving and exit non-zero, so that
		// Docker or systemd restart the whole program.
		begin = time.Now()
		failed = db.FailErr()
		log.Error("stopping: the database cannot be brought back", "error", failed)
		stop()
		serveErr = <-done
	}
	stop() // a second Ctrl-C now ends the process at once
	if serveErr != nil {
		log.Warn("HTTP shutdown", "error", serveErr)
	}
	stopJobs()
	// The last read records were flushed as HTTP stopped: chain them now rather than at the next
	// start (bounded: a database that is away must not hold the stop up).
	if failed == nil {
		sealCtx, cancelSeal := context.WithTimeout(context.Background(), time.Second)
		if _, err := store.New(db.Pool, time.Second).SealAudit(sealCtx); err != nil {
			log.Warn("audit: the last rows were not sealed; the next start seals them", "error", err)
		}
		cancelSeal()
	}
	// The stop is bounded by server.shutdown_timeout: PostgreSQL gets what HTTP left, at least
	// minDatabaseStop (and then, if it is still running, up to a second to be killed).
	left := max(cfg.Server.ShutdownTimeout-time.Since(begin), minDatabaseStop)
	if err := db.CloseWithin(left); err != nil {
		log.Error("database shutdown", "error", err)
		return err
	}
	if failed != nil {
		return failed
	}
	log.Info("stopped", "took", time.Since(begin).Round(time.Millisecond).String())
	return nil
}

// minDatabaseStop is PostgreSQL's least share of a stop, even when requests in flight used all of
// server.shutdown_timeout; a PostgreSQL still running after its share is killed within a second
// more. The default timeout plus both stays well under Docker's 10 s stop grace period (and
// systemd's 90 s), after which the process is killed.
const minDatabaseStop = 500 * time.Millisecond

// lockDataDir takes the data directory's lock for command when the embedded server will run in
// it (with an external database the directory holds only the token secret, and replicas may
// share it). A second process refuses here, before it touches anything.
func lockDataDir(cfg *config.Config, command string) (*database.DirLock, error) {
	if !cfg.EmbeddedMode() {
		return nil, nil
	}
	return database.LockDataDir(cfg.DataDir, command)
}

// prepare resolves the data directory, drops root privileges (creating a missing data directory
// for the user switched to), then checks, as that user, that the data directory is theirs, closed
// to others and writable (privilege.SecureDir). It runs before any server goroutine exists; serve
// opens its listener before, as root. serving says whether the token secret (generated into the
// data directory when not configured) is needed.
func prepare(cfg *config.Config, serving bool, log *slog.Logger) error {
	reportDatabase(log, cfg)
	cfg.DataDir = database.DataDir(cfg)
	// The data directory holds the embedded cluster, or the generated JWT secret.
	needDir := cfg.EmbeddedMode() || (serving && (cfg.Auth.JWTSecret == "" || cfg.Server.TLS == certs.SelfSigned || cfg.Server.TLS == certs.ACME))
	if os.Geteuid() == 0 {
		if err := dropRoot(cfg, needDir, log); err != nil {
			return err
		}
	}
	if !needDir {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return configError(fmt.Errorf("cannot create the data directory %s: %v (set data_dir, HEALTHCARE_DATA_DIR or --data-dir to a writable directory)", cfg.DataDir, unwrapPath(err)))
	}
	if err := privilege.SecureDir(cfg.DataDir, log); err != nil {
		return configError(err)
	}
	if err := privilege.CheckWritable(cfg.DataDir); err != nil {
		return configError(fmt.Errorf("%v (set data_dir, HEALTHCARE_DATA_DIR or --data-dir to a writable directory)", err))
	}
	return nil
}

// reportDatabase says which database the command uses and which setting chose it, and what in
// the configuration was ignored: an external database chosen by a stray variable must be visible.
func reportDatabase(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("configuration: " + w)
	}
	if cfg.EmbeddedMode() {
		log.Info("database: the embedded PostgreSQL in the data directory", "because", cfg.DatabaseSource)
		return
	}
	log.Info("database: an external PostgreSQL", "url", config.RedactURL(cfg.Database.URL), "set_by", cfg.DatabaseSource)
}

// dropRoot switches the process to embedded.run_as. PostgreSQL refuses to run as root, so the
// embedded mode requires it; with an external database a missing user only earns a warning.
func dropRoot(cfg *config.Config, needDir bool, log *slog.Logger) error {
	runAs := cfg.Embedded.RunAs
	if !cfg.EmbeddedMode() {
		if _, err := user.Lookup(runAs); err != nil || runAs == "" || runAs == "root" {
			log.Warn("running as root: no unprivileged user to switch to; set embedded.run_as to one", "run_as", runAs)
			return nil
		}
	}
	var own []string
	if needDir {
		own = append(own, cfg.DataDir)
	}
	name, dropped, err := privilege.DropIfRoot(runAs, own...)
	if err != nil {
		return configError(err)
	}
	if dropped {
		log.Info("started as root: switched to an unprivileged user for the server and PostgreSQL", "user", name, "uid", os.Getuid())
	}
	return nil
}

// listen opens the HTTP listener; its errors say what to change.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	hint := "choose another address with --addr, server.addr or HEALTHCARE_SERVER_ADDR"
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errAddrInUse):
		return nil, fmt.Errorf("cannot listen on %s: the port is already in use by another program; stop it or %s", addr, hint)
	case errors.Is(err, errAccess):
		return nil, configError(fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need privileges); %s", addr, hint))
	case errors.Is(err, errAddrNotAvail):
		return nil, configError(fmt.Errorf("cannot listen on %s: this machine has no such address; %s", addr, hint))
	case errors.As(err, &dnsErr):
		return nil, configError(fmt.Errorf("cannot listen on %s: unknown host %q; %s", addr, dnsErr.Name, hint))
	}
	return nil, configError(fmt.Errorf("cannot listen on %s: %v; %s", addr, unwrapOp(err), hint))
}

// announce tells the user, in a few lines, where the data is, which PostgreSQL runs, how HTTPS
// is set up and where to go.
func announce(log *slog.Logger, cfg *config.Config, info database.Info, addr net.Addr, t *certs.TLS, redirect net.Listener) {
	if info.Mode == "embedded" {
		log.Info("data directory", "path", cfg.DataDir, "cluster", info.DataDir, "postgres_log", info.LogFile)
		log.Info("PostgreSQL (embedded)", "version", info.Version, "found", info.BinariesSource, "bin", info.BinDir, "port", info.Port)
	} else {
		log.Info("PostgreSQL (external)", "version", info.Version, "url", info.URL)
	}
	scheme := "http"
	if t != nil {
		scheme = "https"
		args := []any{"mode", t.Mode, "names", strings.Join(t.Names, ",")}
		if t.Fingerprint != "" {
			args = append(args, "sha256", t.Fingerprint)
		}
		if redirect != nil {
			args = append(args, "redirect_from", redirect.Addr().String())
		}
		msg := "HTTPS"
		if t.Mode == certs.SelfSigned {
			msg = "HTTPS with a self-signed certificate: browsers warn once; compare the SHA-256 fingerprint they show with this one before going on"
		}
		log.Info(msg, args...)
	}
	log.Info("ready: open "+openURL(scheme, addr), "listen", addr.String())
}

// scheme is how browsers reach the server: https with server.tls, else http.
func scheme(cfg *config.Config) string {
	if cfg.Server.TLSOn() {
		return "https"
	}
	return "http"
}

// isLoopback reports whether addr only accepts connections from this machine.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP != nil && ta.IP.IsLoopback()
}

// openURL is the address a browser on this machine should open.
func openURL(scheme string, addr net.Addr) string {
	host, port := "127.0.0.1", ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if !ta.IP.IsUnspecified() && ta.IP != nil {
			host = ta.IP.String()
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// reserveHashProcs adds one scheduler slot (P) per concurrent password hash to GOMAXPROCS, unless
// GOMAXPROCS is set. A hash runs for 0.1-0.3 s of CPU and holds a P all along: with only one P per
// CPU, on a 2-CPU machine a login took half of the server's Ps from the requests of everybody else.
// Measured with go run ./bench -runs 3 (GET one patient while logins run, 2 CPUs): 7,979-8,766
// req/s instead of 5,067-6,329, p99 11.3-14.5 ms instead of 13.5-20.9. The kernel still shares the
// CPUs between them. Called after the database pool is sized (database.MaxConns counts CPUs).
//
// auth.HashConcurrency is half of GOMAXPROCS as the runtime found it (in a container, the CPU
// quota), so the total stays within 1.5 times that. Setting GOMAXPROCS ends the runtime's own
// updates of it when a container's quota changes: restart the server after changing a quota.
func reserveHashProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	procs, hashes := runtime.GOMAXPROCS(0), auth.HashConcurrency()
	runtime.GOMAXPROCS(procs + hashes)
}

// collectLessOften lets the heap grow to three times what is live before a collection (GOGC 200,
// unless GOGC is set) instead of twice: the live heap is small (about 10 MB), so this costs some
// 10 MB under load and nothing idle (idle memory is returned, see server's idleMemory), and
// measured with go run ./bench -runs 3 it answered GET one patient 4-10 % faster.
func collectLessOften() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(200)
}

// limitMemory sets a soft memory limit unless GOMEMLIMIT is set: each argon2id hash allocates
// auth.argon2_memory_kib, and without a limit the garbage of a burst of logins (measured: 16
// concurrent clients) let the heap grow to ~350 MB before the collector caught up. The limit is
// what the concurrent hashes need plus room for everything else.
func limitMemory(cfg *config.Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	hashes := int64(auth.HashConcurrency()) * int64(cfg.Auth.Argon2MemoryKiB) * 1024
	debug.SetMemoryLimit(hashes + 48<<20)
}
