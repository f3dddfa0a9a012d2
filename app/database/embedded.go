package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
	"github.com/jackc/pgx/v5"
)

// Files and directories the embedded server keeps inside the data directory.
const (
	clusterDirName  = "postgres"        // the PostgreSQL cluster (initdb's data directory)
	logFileName     = "postgres.log"    // PostgreSQL's own log
	passwordName    = "postgres.secret" // superuser password, 0600
	runtimeDirName  = "pg-runtime"      // embedded-postgres's RuntimePath: WIPED at every start
	downloadDirName = "pg-binaries"     // downloaded binaries (persistent)
	cacheDirName    = "pg-cache"        // downloaded archives
	markerName      = "healthcare-first-boot-complete"
	superuser       = "postgres"
)

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	DataDir         string // holds the cluster (DataDir/postgres), its log, password and runtime files
	BinariesPath    string // embedded.binaries_path; empty: discover
	Download        bool   // allow downloading binaries when none are installed
	DownloadVersion string // major version to download ("16")
	Port            int    // 0: a free port chosen at start
	Database        string // application database created at first boot; empty: none
	MaxConnections  int    // PostgreSQL max_connections; 0: 100
	// NoSync turns fsync, full_page_writes and synchronous_commit off. For throw-away test
	// servers only: acknowledged writes may be lost on power failure.
	NoSync bool
}

// Embedded is a running embedded PostgreSQL server, listening on 127.0.0.1 only.
type Embedded struct {
	ep       *embeddedpostgres.EmbeddedPostgres
	info     Info
	password string
	logFile  *os.File
	libLog   string // the library's own log file in the temporary directory
	log      *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// StartEmbedded starts (initialising on first use) the PostgreSQL cluster in o.DataDir. It must not
// run as root (see package privilege). It refuses, without touching it, a cluster made by another
// major version; stops a server left running by a process that died; and re-initialises a cluster
// whose first boot never completed and that holds no database of its own.
func StartEmbedded(ctx context.Context, o EmbeddedOptions, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() == 0 {
		return nil, errors.New("the embedded PostgreSQL server cannot run as root: start the program as a normal user, or let it switch to embedded.run_as")
	}
	if o.DataDir == "" {
		return nil, errors.New("no data directory given for the embedded PostgreSQL server")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory %s: %v", dataDir, unwrapPath(err))
	}
	if err := checkWritable(dataDir); err != nil {
		return nil, err
	}
	cluster := filepath.Join(dataDir, clusterDirName)
	downloadDir := filepath.Join(dataDir, downloadDirName)

	cands, err := findBinaries(ctx, o.BinariesPath, downloadDir)
	if err != nil {
		return nil, err
	}

	// A server left running by a process that died holds the cluster: stop it first.
	if err := stopOrphan(ctx, cluster, cands, log); err != nil {
		return nil, err
	}

	clusterMajor := readPGVersion(cluster)
	hasMarker := fileExists(filepath.Join(cluster, markerName))
	if !hasMarker && dirExists(cluster) {
		if clusterHoldsData(cluster) {
			log.Warn("embedded PostgreSQL: first boot was not completed but the cluster holds databases; keeping it and finishing the first boot", "cluster", cluster)
		} else {
			log.Warn("embedded PostgreSQL: the cluster's first boot never completed and it holds no data; re-initialising it", "cluster", cluster)
			if err := os.RemoveAll(cluster); err != nil {
				return nil, fmt.Errorf("cannot remove the half-initialised cluster %s: %v", cluster, unwrapPath(err))
			}
			clusterMajor = 0
		}
	}

	// Pick binaries whose major version matches the cluster (or the first found for a new cluster).
	var bin binaries
	found := false
	for _, c := range cands {
		if clusterMajor == 0 || c.Major == clusterMajor {
			bin, found = c, true
			break
		}
	}
	download := false
	if !found {
		dv, _ := strconv.Atoi(o.DownloadVersion)
		switch {
		case clusterMajor != 0 && len(cands) > 0 && (!o.Download || dv != clusterMajor):
			return nil, fmt.Errorf("data directory %s was created by PostgreSQL %d but the installed server is %d (%s): point embedded.binaries_path at PostgreSQL %d binaries, or back up and move the directory away",
				cluster, clusterMajor, cands[0].Major, cands[0].BinDir, clusterMajor)
		case clusterMajor != 0 && (!o.Download || dv != clusterMajor):
			return nil, fmt.Errorf("data directory %s was created by PostgreSQL %d and no PostgreSQL %d server is installed: install it, point embedded.binaries_path at its binaries, or set embedded.download to true with embedded.download_version %d",
				cluster, clusterMajor, clusterMajor, clusterMajor)
		case !o.Download:
			return nil, errors.New("no PostgreSQL server binaries were found: install PostgreSQL (e.g. apt install postgresql), set embedded.binaries_path, or set embedded.download to true")
		}
		if _, ok := versionConst[dv]; !ok {
			return nil, fmt.Errorf("embedded.download_version %q is not supported: use 14, 15, 16 or 17", o.DownloadVersion)
		}
		download = true
		bin = binaries{BinDir: filepath.Join(downloadDir, "bin"), Source: "downloaded", Major: dv, Version: o.DownloadVersion}
		log.Info("embedded PostgreSQL: no installed server found; downloading PostgreSQL (one time)", "version", dv, "into", downloadDir)
	}
	version, ok := versionConst[bin.Major]
	if !ok {
		// The library only compares this with PG_VERSION by prefix when it need not download.
		version = embeddedpostgres.PostgresVersion(strconv.Itoa(bin.Major) + ".0.0")
	}

	// The superuser password: generated with the cluster, kept 0600 in the data directory.
	pwFile := filepath.Join(dataDir, passwordName)
	var password string
	if dirExists(cluster) && readPGVersion(cluster) != 0 {
		b, err := os.ReadFile(pwFile)
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			return nil, fmt.Errorf("the password file %s of the embedded PostgreSQL cluster %s is missing or empty: restore it from a backup, or back up and move the cluster away to start afresh", pwFile, cluster)
		}
		password = strings.TrimSpace(string(b))
	} else {
		password = randomHex(24)
		if err := writeFileSync(pwFile, []byte(password+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("cannot write %s: %v", pwFile, unwrapPath(err))
		}
	}

	logPath := filepath.Join(dataDir, logFileName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the PostgreSQL log %s: %v", logPath, unwrapPath(err))
	}

	maxConns := o.MaxConnections
	if maxConns <= 0 {
		maxConns = 100
	}
	params := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": "", // no socket: nothing outside the data dir, no /var/run/postgresql
		"fsync":                   "on",
		"max_connections":         strconv.Itoa(maxConns),
		// The running server's output goes to <data_dir>/postgres.log (the library's own Logger
		// would only receive it at Start and Stop).
		"logging_collector":        "on",
		"log_directory":            dataDir,
		"log_filename":             logFileName,
		"log_file_mode":            "0600",
		"log_rotation_age":         "0",
		"log_rotation_size":        "0",
		"log_truncate_on_rotation": "off",
		// A refused row's DETAIL ("Failing row contains (...)", "Key (...)=(...) already exists")
		// and the failing statement would put patient fields into the log: keep only the error.
		"log_error_verbosity":     "terse",
		"log_min_error_statement": "panic",
	}
	if o.NoSync {
		params["fsync"] = "off"
		params["full_page_writes"] = "off"
		params["synchronous_commit"] = "off"
	}
	if strings.ContainsAny(dataDir, "\"$`\\") {
		return nil, fmt.Errorf("data directory %s contains a quote, dollar sign or backslash, which PostgreSQL's start command cannot carry: choose another data_dir", dataDir)
	}

	fixedPort := o.Port != 0
	var ep *embeddedpostgres.EmbeddedPostgres
	var port int
	var startErr error
	var libLog string
	for attempt := 0; attempt < 3; attempt++ {
		if err := ctx.Err(); err != nil {
			logFile.Close()
			return nil, err
		}
		port = o.Port
		if !fixedPort {
			if port, err = freePort(); err != nil {
				logFile.Close()
				return nil, fmt.Errorf("cannot find a free port on 127.0.0.1 for the embedded PostgreSQL server: %v", err)
			}
		}
		conf := embeddedpostgres.DefaultConfig().
			Version(version).
			Port(uint32(port)).
			Database("postgres").
			Username(superuser).
			Password(password).
			BinariesPath(filepath.Dir(bin.BinDir)).
			DataPath(cluster).
			RuntimePath(filepath.Join(dataDir, runtimeDirName)).
			CachePath(filepath.Join(dataDir, cacheDirName)).
			Locale("C.UTF-8").
			Encoding("UTF8").
			StartParameters(params).
			StartTimeout(60 * time.Second).
			Logger(logFile)
		ep = embeddedpostgres.NewDatabase(conf)
		if libLog, startErr = startTracked(ep); startErr == nil {
			break
		}
		os.Remove(libLog)
		if fixedPort || !strings.Contains(startErr.Error(), "already") && !strings.Contains(startErr.Error(), "could not bind") {
			break
		}
		log.Warn("embedded PostgreSQL: port taken at start, retrying with another", "port", port)
	}
	if startErr != nil {
		logFile.Close()
		msg := startErr.Error()
		if strings.HasPrefix(msg, "could not start postgres using ") {
			if _, rest, ok := strings.Cut(msg, "\n"); ok {
				msg = strings.TrimSpace(rest)
			}
		}
		return nil, fmt.Errorf("the embedded PostgreSQL server in %s did not start (see %s): %s", cluster, logPath, msg)
	}
	if download {
		// Later starts find these as "downloaded" binaries; report the real version.
		if b, err := probe(ctx, bin.BinDir, "downloaded"); err == nil {
			bin = b
		}
	}

	e := &Embedded{ep: ep, password: password, logFile: logFile, libLog: libLog, log: log}
	e.info = Info{
		Mode:           "embedded",
		Version:        bin.Version,
		BinariesSource: bin.Source,
		BinDir:         bin.BinDir,
		DataDir:        cluster,
		LogFile:        logPath,
		Port:           port,
	}
	e.info.URL = redactURL(e.URL(o.Database))
	if err := e.firstBoot(ctx, cluster, o.Database); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// firstBoot creates the application database when missing and marks the first boot complete.
func (e *Embedded) firstBoot(ctx context.Context, cluster, database string) error {
	conn, err := pgx.Connect(ctx, e.URL("postgres"))
	if err != nil {
		return fmt.Errorf("cannot connect to the embedded PostgreSQL server: %v", err)
	}
	defer conn.Close(context.Background())
	if v := serverVersion(ctx, conn); v != "" {
		e.info.Version = v
	}
	if database != "" && database != "postgres" {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
			return fmt.Errorf("cannot list the embedded server's databases: %v", err)
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
				return fmt.Errorf("cannot create database %q in the embedded server: %v", database, err)
			}
		}
	}
	marker := filepath.Join(cluster, markerName)
	if !fileExists(marker) {
		if err := writeFileSync(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
			return fmt.Errorf("cannot write %s: %v", marker, unwrapPath(err))
		}
	}
	return nil
}

// URL is the connection URL (with the password) of database on this server.
func (e *Embedded) URL(database string) string {
	if database == "" {
		database = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, e.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(e.info.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Info describes the running server.
func (e *Embedded) Info() Info { return e.info }

// Stop stops the server (pg_ctl stop, fast mode). It is safe to call more than once.
func (e *Embedded) Stop() error {
	e.stopOnce.Do(func() {
		start := time.Now()
		if err := e.ep.Stop(); err != nil {
			e.stopErr = fmt.Errorf("cannot stop the embedded PostgreSQL server in %s: %v", e.info.DataDir, err)
		} else {
			e.log.Debug("embedded PostgreSQL stopped", "took", time.Since(start).Round(time.Millisecond).String())
		}
		e.logFile.Close()
		if e.libLog != "" {
			os.Remove(e.libLog) // after ep.Stop, whose last flush reads it
		}
	})
	return e.stopErr
}

// startMu serialises startTracked, so the file a start opens is told apart from another's.
var startMu sync.Mutex

// startTracked runs ep.Start and returns the path of the log file the library creates in the
// temporary directory at every start and never removes (it stays open, so it is found among the
// process's open files). The caller removes it after Stop instead of letting them pile up in /tmp.
func startTracked(ep *embeddedpostgres.EmbeddedPostgres) (string, error) {
	startMu.Lock()
	defer startMu.Unlock()
	before := libLogFiles()
	err := ep.Start()
	for path := range libLogFiles() {
		if !before[path] {
			return path, err
		}
	}
	return "", err
}

// libLogFiles lists the library's log files this process holds open.
func libLogFiles() map[string]bool {
	out := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	prefix := filepath.Join(os.TempDir(), "embedded_postgres_log")
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, prefix) {
			out[target] = true
		}
	}
	return out
}

// stopOrphan stops a PostgreSQL server that still runs on cluster (its owner died without stopping
// it). Only a live process whose executable is a postgres binary is stopped; a stale pid file is
// left for PostgreSQL, which handles it.
func stopOrphan(ctx context.Context, cluster string, cands []binaries, log *slog.Logger) error {
	b, err := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil // not running: stale pid file
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // exited meanwhile
		}
		// Another user's process: /proc/PID/comm is readable by everyone.
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "postgres" {
			return fmt.Errorf("a PostgreSQL server (pid %d) owned by another user is running on %s: stop it, or start this program as that user", pid, cluster)
		}
		return removeStalePID(cluster, pid, log)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return removeStalePID(cluster, pid, log)
	}
	pgCtl := filepath.Join(filepath.Dir(exe), "pg_ctl")
	if !fileExists(pgCtl) {
		if len(cands) == 0 {
			return fmt.Errorf("a PostgreSQL server (pid %d) left running on %s cannot be stopped because pg_ctl was not found: stop it with pg_ctl stop -D %s", pid, cluster, cluster)
		}
		pgCtl = filepath.Join(cands[0].BinDir, "pg_ctl")
	}
	log.Warn("embedded PostgreSQL: a server left running by an earlier run was found; stopping it", "pid", pid, "cluster", cluster)
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(sctx, pgCtl, "stop", "-m", "fast", "-w", "-t", "60", "-D", cluster).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot stop the PostgreSQL server (pid %d) left running on %s: %v: %s", pid, cluster, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStalePID removes a postmaster.pid whose pid now belongs to a program that is not
// PostgreSQL (after a reboot or container restart): PostgreSQL itself would refuse to start, taking
// the live pid for another server. The process is never signalled.
func removeStalePID(cluster string, pid int, log *slog.Logger) error {
	log.Warn("embedded PostgreSQL: removing a stale postmaster.pid whose pid now belongs to another program", "pid", pid, "cluster", cluster)
	if err := os.Remove(filepath.Join(cluster, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove the stale %s/postmaster.pid: %v", cluster, unwrapPath(err))
	}
	return nil
}

// readPGVersion returns the major version in cluster/PG_VERSION, or 0.
func readPGVersion(cluster string) int {
	b, err := os.ReadFile(filepath.Join(cluster, "PG_VERSION"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// clusterHoldsData reports whether the cluster has a database beyond those initdb creates (their
// OIDs are below FirstNormalObjectId, 16384).
func clusterHoldsData(cluster string) bool {
	entries, err := os.ReadDir(filepath.Join(cluster, "base"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= 16384 {
			return true
		}
	}
	return false
}

var versionConst = map[int]embeddedpostgres.PostgresVersion{
	14: embeddedpostgres.V14,
	15: embeddedpostgres.V15,
	16: embeddedpostgres.V16,
	17: embeddedpostgres.V17,
	18: embeddedpostgres.V18,
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writeFileSync(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
