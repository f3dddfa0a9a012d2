package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcare/app/privilege"
)

// Files and directories the embedded server keeps inside the data directory.
const (
	clusterDirName  = "postgres"            // the PostgreSQL cluster (initdb's data directory)
	initDirName     = "postgres.initdb"     // initdb works here; renamed to postgres/ once complete
	logFileName     = "postgres.log"        // PostgreSQL's own log
	passwordName    = "postgres.secret"     // superuser password, 0600: maintenance only
	appPasswordName = "postgres-app.secret" // the application role's password, 0600
	runtimeDirName  = "pg-runtime"          // files rewritten at every start (pg_hba.conf)
	downloadDirName = "pg-binaries"         // downloaded binaries, and <version>/ the ones inside the program (persistent)
	markerName      = "healthcare-first-boot-complete"
	superuser       = "postgres"
)

// AppRole is the PostgreSQL role the application connects as in the embedded cluster: it owns the
// application database and nothing else (no superuser, no CREATEDB, no CREATEROLE).
const AppRole = "healthcare"

// DefaultStopTimeout bounds Stop.
const DefaultStopTimeout = 30 * time.Second

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	DataDir      string // holds the cluster (DataDir/postgres), its log, passwords and runtime files
	BinariesPath string // embedded.binaries_path; empty: discover
	// Binaries is embedded.binaries: which PostgreSQL runs. "auto" (or empty): an installed one
	// (or one downloaded earlier), else the one inside the program (bundle_pg builds), else a
	// download when Download allows; "system": installed only; "bundled": the one inside only;
	// "download": downloaded only.
	Binaries        string
	Download        bool   // allow downloading binaries when none are installed
	DownloadVersion string // major version to download ("16")
	Port            int    // 0: a free port chosen at start
	Database        string // application database, owned by AppRole; empty: none (tools, tests)
	MaxConnections  int    // PostgreSQL max_connections; 0: 100
	LogRotationKB   int    // size at which PostgreSQL starts a new log file; 0: DefaultLogRotationKB
	Command         string // what the data directory's lock names as its owner ("serve"); empty: "start"
	// Upgrading is set by upgrade-postgres only: it starts the new cluster while the marker of
	// its unfinished upgrade is present, which makes every other start refuse.
	Upgrading bool
	// NoSync turns fsync, full_page_writes and synchronous_commit off. For throw-away test
	// servers only: acknowledged writes may be lost on power failure.
	NoSync bool
}

// Embedded is a running embedded PostgreSQL server, listening on 127.0.0.1 only (and, for the
// application's pool, a Unix socket in the data directory), watched by this
// process and restarted when it dies.
type Embedded struct {
	pm          *postmaster
	lock        *DirLock
	info        Info
	password    string
	appPassword string // "" when there is no application database
	database    string
	log         *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// StartEmbedded starts (initialising on first use) the PostgreSQL cluster in o.DataDir and holds
// the data directory's lock until Stop. It must not run as root (see package privilege).
//
// What it never does: remove or re-initialise a directory holding any cluster file (a cluster
// whose PG_VERSION is missing, unreadable or of another major version is refused, untouched);
// signal a process that does not provably serve this cluster; rewrite a password file of an
// existing cluster.
func StartEmbedded(ctx context.Context, o EmbeddedOptions, log *slog.Logger) (_ *Embedded, err error) {
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
	// PostgreSQL takes forward slashes on Windows too; ToSlash changes nothing elsewhere.
	if strings.ContainsAny(filepath.ToSlash(dataDir), "\"$`\\'") {
		return nil, fmt.Errorf("data directory %s contains a quote, dollar sign or backslash, which PostgreSQL's settings cannot carry: choose another data_dir", dataDir)
	}
	if o.Command == "" {
		o.Command = "start"
	}
	// One owner: everything below happens under the lock, so a second process refuses before it
	// looks at anything, and two first starts cannot both initialise.
	lock, err := LockDataDir(dataDir, o.Command)
	if err != nil {
		return nil, err
	}
	locksMu.Lock()
	already := lock.serving
	lock.serving = true
	locksMu.Unlock()
	if already {
		lock.Release()
		return nil, fmt.Errorf("%w: this process already runs the embedded PostgreSQL server of %s", ErrLocked, dataDir)
	}
	defer func() {
		if err != nil {
			locksMu.Lock()
			lock.serving = false
			locksMu.Unlock()
			lock.Release()
		}
	}()
	if err := checkWritable(dataDir); err != nil {
		return nil, err
	}
	// While an upgrade has the old cluster moved aside, postgres/ is missing or incomplete: a
	// start would create or serve an empty database.
	if !o.Upgrading {
		if err := pendingUpgradeError(dataDir); err != nil {
			return nil, err
		}
	}
	cluster := filepath.Join(dataDir, clusterDirName)
	logPath := filepath.Join(dataDir, logFileName)

	clusterMajor, isNew, err := inspectCluster(cluster)
	if err != nil {
		return nil, err
	}
	if !isNew {
		if err := stopOrphan(cluster, log); err != nil {
			return nil, err
		}
	}
	bin, err := chooseBinaries(ctx, o, dataDir, clusterMajor, log)
	if err != nil {
		return nil, err
	}

	// The superuser's password: kept with the cluster, never rewritten for an existing one.
	pwFile := filepath.Join(dataDir, passwordName)
	var password string
	if isNew {
		if password, err = readOrCreateSecret(pwFile); err != nil {
			return nil, err
		}
		if err := initCluster(ctx, bin, dataDir, password, log); err != nil {
			return nil, err
		}
	} else {
		if err := privilege.SecureFile(pwFile, log); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(pwFile)
		password = strings.TrimSpace(string(b))
		if err != nil || password == "" {
			return nil, fmt.Errorf("the password file %s of the embedded PostgreSQL cluster %s is missing or empty (nothing was changed): restore it from a backup of the data directory, or restore a backup made with 'healthcare backup' into a new data directory", pwFile, cluster)
		}
	}

	// Authentication is ours, not the cluster's pg_hba.conf (older clusters of this program allow
	// cleartext "password"): SCRAM only, TCP on 127.0.0.1 and a socket in the data directory.
	runtimeDir := filepath.Join(dataDir, runtimeDirName)
	if err := os.MkdirAll(runtimeDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", runtimeDir, unwrapPath(err))
	}
	hbaFile := filepath.Join(runtimeDir, "pg_hba.conf")
	hba := "# Written by healthcare at every start; the cluster's own pg_hba.conf is not used.\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n"
	// The application's own connections go through a Unix socket inside the data directory when
	// the platform has them and the path fits (a socket path is at most 107 bytes): a query's
	// round trip costs the kernel a fraction of loopback TCP's. Same SCRAM; the directory is 0700.
	socketDir := ""
	if socketsUsable(runtimeDir) {
		socketDir = runtimeDir
		hba += "local all all scram-sha-256\n"
	}
	if err := writeFileSync(hbaFile, []byte(hba), 0o600); err != nil {
		return nil, fmt.Errorf("cannot write %s: %v", hbaFile, unwrapPath(err))
	}

	maxConns := o.MaxConnections
	if maxConns <= 0 {
		maxConns = 100
	}
	logRotationKB := o.LogRotationKB
	if logRotationKB <= 0 {
		logRotationKB = DefaultLogRotationKB
	}
	if err := capStderrLog(logPath); err != nil {
		return nil, err
	}
	params := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": socketDir, // never /var/run/postgresql: nothing outside the data dir
		"unix_socket_permissions": "0700",
		"password_encryption":     "scram-sha-256",
		"fsync":                   "on",
		"synchronous_commit":      "on",
		"full_page_writes":        "on",
		"max_connections":         strconv.Itoa(maxConns),
		// The running server's output goes to <data_dir>/postgres-<time>.log, a new file at every
		// start and every LogRotationKB; PruneLogs (the maintenance loop) removes old ones.
		"logging_collector":        "on",
		"log_directory":            filepath.ToSlash(dataDir),
		"log_filename":             rotatedLogFilename,
		"log_file_mode":            "0600",
		"log_timezone":             "UTC", // file names and lines in one zone: no DST jumps
		"log_rotation_age":         "0",
		"log_rotation_size":        strconv.Itoa(logRotationKB) + "kB",
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
	pm := &postmaster{bin: bin, cluster: cluster, hbaFile: hbaFile, logPath: logPath, params: params, socketDir: socketDir,
		password: password, log: log, failed: make(chan struct{})}

	var startErr error
	for attempt := 0; attempt < 3; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pm.port = o.Port
		if pm.port == 0 {
			if pm.port, err = freePort(); err != nil {
				return nil, fmt.Errorf("cannot find a free port on 127.0.0.1 for the embedded PostgreSQL server: %v", err)
			}
		}
		startErr = pm.start(ctx, 60*time.Second)
		if startErr != nil && pm.socketDir != "" && strings.Contains(logTail(newestLog(dataDir), 5), "Unix") {
			// A filesystem that cannot hold a socket: TCP only, as before sockets were used.
			log.Warn("embedded PostgreSQL: cannot listen on a Unix socket in the data directory; using TCP only", "dir", pm.socketDir)
			pm.socketDir, params["unix_socket_directories"] = "", ""
			continue
		}
		if startErr == nil || o.Port != 0 || !strings.Contains(logTail(newestLog(dataDir), 5), "could not bind") {
			break
		}
		log.Warn("embedded PostgreSQL: port taken at start, retrying with another", "port", pm.port)
	}
	if startErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(startErr, errWrongPassword) {
			return nil, fmt.Errorf("the password in %s is not the superuser password of the embedded PostgreSQL cluster %s (%v; nothing was changed): put back the %s that belongs to this cluster, from a copy of the data directory, or restore a backup made with 'healthcare backup' into a new data directory",
				pwFile, cluster, startErr, passwordName)
		}
		lastLog := newestLog(dataDir)
		return nil, fmt.Errorf("the embedded PostgreSQL server in %s did not start: %v; its log %s ends with: %q; fix what it says (a full disk, permissions, a port) and start again (the data was not changed)",
			cluster, startErr, lastLog, logTail(lastLog, 5))
	}

	e := &Embedded{pm: pm, lock: lock, password: password, database: o.Database, log: log}
	e.info = Info{
		Mode:           "embedded",
		Version:        bin.Version,
		BinariesSource: bin.Source,
		BinDir:         bin.BinDir,
		DataDir:        cluster,
		LogFile:        filepath.Join(dataDir, RotatedLogGlob),
		Port:           pm.port,
	}
	if err := e.firstBoot(ctx, dataDir, cluster); err != nil {
		e.Stop()
		return nil, err
	}
	e.info.URL = redactURL(e.AppURL())
	if err := lock.SetPort(pm.port); err != nil {
		e.Stop()
		return nil, err
	}
	go pm.supervise()
	return e, nil
}

// inspectCluster tells whether cluster is new (missing, or an empty directory) and otherwise reads
// its major version. Anything else — a file in place of the directory, a missing or unreadable
// PG_VERSION — is refused without touching it: embedded-postgres would have deleted it.
func inspectCluster(cluster string) (major int, isNew bool, err error) {
	st, err := os.Lstat(cluster)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot read the PostgreSQL cluster %s: %v", cluster, unwrapPath(err))
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		if st, err = os.Stat(cluster); err != nil {
			return 0, false, fmt.Errorf("the PostgreSQL cluster %s is a symbolic link to something unreadable (%v): fix the link; nothing was changed", cluster, unwrapPath(err))
		}
	}
	if !st.IsDir() {
		return 0, false, fmt.Errorf("%s is not a directory, so it cannot be the PostgreSQL cluster: move it away; nothing was changed", cluster)
	}
	entries, err := os.ReadDir(cluster)
	if err != nil {
		return 0, false, fmt.Errorf("cannot read the PostgreSQL cluster %s: %v", cluster, unwrapPath(err))
	}
	if len(entries) == 0 {
		return 0, true, nil
	}
	b, err := os.ReadFile(filepath.Join(cluster, "PG_VERSION"))
	if err != nil {
		return 0, false, fmt.Errorf("the PostgreSQL cluster %s has no readable PG_VERSION file (%v), so its version is unknown: nothing was changed; put back PG_VERSION (one line with the major version, e.g. 15) from a copy of the data directory, or move the directory away and restore a backup with 'healthcare restore FILE --yes'", cluster, unwrapPath(err))
	}
	major, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || major < 9 || major > 99 {
		return 0, false, fmt.Errorf("the PostgreSQL cluster %s has a damaged PG_VERSION file (%q), so its version is unknown: nothing was changed; put back PG_VERSION (one line with the major version, e.g. 15) from a copy of the data directory, or move the directory away and restore a backup with 'healthcare restore FILE --yes'", cluster, strings.TrimSpace(string(b)))
	}
	return major, false, nil
}

// chooseBinaries picks an installation whose major version matches the cluster (or the first
// found for a new cluster), downloading one when allowed and needed.
func chooseBinaries(ctx context.Context, o EmbeddedOptions, dataDir string, clusterMajor int, log *slog.Logger) (binaries, error) {
	downloadDir := filepath.Join(dataDir, downloadDirName)
	cluster := filepath.Join(dataDir, clusterDirName)
	if o.Binaries == "bundled" {
		if bundled == nil {
			return binaries{}, errNoBundle
		}
		if clusterMajor != 0 && clusterMajor != bundled.Major {
			return binaries{}, fmt.Errorf("data directory %s was created by PostgreSQL %d but the PostgreSQL inside this program is %s (embedded.binaries is \"bundled\"): set embedded.binaries to system and install PostgreSQL %d, or restore a backup into a new data directory (nothing was changed)",
				cluster, clusterMajor, bundled.Version, clusterMajor)
		}
		return bundledBinaries(ctx, bundled, dataDir, log)
	}
	cands, err := findBinaries(ctx, o.BinariesPath, downloadDir)
	if err != nil {
		return binaries{}, err
	}
	kept := cands[:0]
	for _, c := range cands {
		if o.Binaries == "system" && c.Source == "downloaded" || o.Binaries == "download" && c.Source != "downloaded" {
			continue
		}
		kept = append(kept, c)
	}
	cands = kept
	for _, c := range cands {
		if clusterMajor == 0 || c.Major == clusterMajor {
			return c, nil
		}
	}
	if (o.Binaries == "" || o.Binaries == "auto") && o.BinariesPath == "" && bundled != nil &&
		(clusterMajor == 0 || clusterMajor == bundled.Major) {
		return bundledBinaries(ctx, bundled, dataDir, log)
	}
	if o.Binaries == "system" {
		o.Download = false
	}
	if o.Binaries == "download" {
		o.Download = true
	}
	dv, _ := strconv.Atoi(o.DownloadVersion)
	switch {
	case clusterMajor != 0 && len(cands) > 0 && cands[0].Major > clusterMajor && (!o.Download || dv != clusterMajor):
		return binaries{}, fmt.Errorf("data directory %s was created by PostgreSQL %d but the installed server is %d (%s): run 'healthcare upgrade-postgres' to move the data to PostgreSQL %d, or point embedded.binaries_path at PostgreSQL %d binaries (nothing was changed)",
			cluster, clusterMajor, cands[0].Major, cands[0].BinDir, cands[0].Major, clusterMajor)
	case clusterMajor != 0 && len(cands) > 0 && (!o.Download || dv != clusterMajor):
		return binaries{}, fmt.Errorf("data directory %s was created by PostgreSQL %d but the installed server is %d (%s): point embedded.binaries_path at PostgreSQL %d binaries, or install PostgreSQL %d (nothing was changed)",
			cluster, clusterMajor, cands[0].Major, cands[0].BinDir, clusterMajor, clusterMajor)
	case clusterMajor != 0 && (!o.Download || dv != clusterMajor):
		return binaries{}, fmt.Errorf("data directory %s was created by PostgreSQL %d and no PostgreSQL %d server is installed: install it, point embedded.binaries_path at its binaries, or set embedded.download to true with embedded.download_version %d (nothing was changed)",
			cluster, clusterMajor, clusterMajor, clusterMajor)
	case !o.Download:
		return binaries{}, errors.New("no PostgreSQL server binaries were found: install PostgreSQL (e.g. apt install postgresql), set embedded.binaries_path, or set embedded.download to true")
	}
	log.Info("embedded PostgreSQL: no installed server found; downloading PostgreSQL (one time)", "version", dv, "into", downloadDir)
	if err := downloadBinaries(ctx, dv, dataDir, downloadDir); err != nil {
		return binaries{}, err
	}
	return probe(ctx, filepath.Join(downloadDir, "bin"), "downloaded")
}

// initCluster runs initdb in a scratch directory and renames it to the cluster only once it is
// complete, so a start interrupted at any point leaves either no cluster or a whole one. The
// scratch directory never held anything but initdb's output, so a leftover of an interrupted
// first start is removed (under the lock, nobody else can be using it).
func initCluster(ctx context.Context, bin binaries, dataDir, password string, log *slog.Logger) error {
	cluster := filepath.Join(dataDir, clusterDirName)
	tmp := filepath.Join(dataDir, initDirName)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("cannot remove the unfinished %s of an interrupted first start: %v", tmp, unwrapPath(err))
	}
	// The superuser's password handed to an initdb that was interrupted.
	if old, _ := filepath.Glob(filepath.Join(dataDir, ".initdb-pw-*")); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	pwf, err := os.CreateTemp(dataDir, ".initdb-pw-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %v", dataDir, unwrapPath(err))
	}
	defer os.Remove(pwf.Name())
	if _, err := pwf.WriteString(password + "\n"); err != nil {
		pwf.Close()
		return err
	}
	pwf.Close()
	log.Info("embedded PostgreSQL: creating a new cluster (first start)", "cluster", cluster, "postgres", bin.Version)
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args := append([]string{"-D", tmp, "-U", superuser, "--pwfile=" + pwf.Name(), "--auth=scram-sha-256",
		"--encoding=UTF8", "--data-checksums"}, localeArgs(bin.Major)...)
	cmd := exec.CommandContext(ictx, filepath.Join(bin.BinDir, "initdb"+exeSuffix), args...)
	cmd.Env = append(os.Environ(), "LC_MESSAGES=C")
	// initdb dies with this process: a SIGKILLed first start must not leave an initdb writing into
	// postgres.initdb while the next start removes and re-creates it. The death signal is tied to
	// the thread that forks, so that thread is kept for the goroutine until initdb has exited.
	cmd.SysProcAttr = initdbProcAttr()
	runtime.LockOSThread()
	out, err := cmd.CombinedOutput()
	runtime.UnlockOSThread()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("initdb could not create the PostgreSQL cluster (%v): %s", err, lastLines(string(out), 5))
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	// An empty cluster directory (created by hand, or by an older version) is replaced; rename(2)
	// refuses a non-empty one, so nothing else can be.
	if err := os.Rename(tmp, cluster); err != nil {
		return fmt.Errorf("cannot move the new cluster into place at %s: %v", cluster, unwrapPath(err))
	}
	return syncDir(dataDir)
}

// firstBoot makes sure the application role and database exist, that the role owns the database
// and everything in its public schema (clusters made by older versions had the superuser own
// them), and marks the first boot complete. It runs at every start; each step is idempotent.
func (e *Embedded) firstBoot(ctx context.Context, dataDir, cluster string) error {
	conn, err := pgx.Connect(ctx, e.URL("postgres"))
	if err != nil {
		return fmt.Errorf("cannot connect to the embedded PostgreSQL server: %v", describe(err))
	}
	defer conn.Close(context.Background())
	if v := serverVersion(ctx, conn); v != "" {
		e.info.Version = v
	}
	if e.database != "" && e.database != "postgres" {
		// The application role's password is set again at every start, so a damaged file (empty,
		// not a generated password) is simply replaced.
		appFile := filepath.Join(dataDir, appPasswordName)
		if b, err := os.ReadFile(appFile); err == nil && !isHex(strings.TrimSpace(string(b))) {
			e.log.Warn("the application role's password file is damaged; generating a new one", "path", appFile)
			if err := os.Remove(appFile); err != nil {
				return fmt.Errorf("cannot replace the damaged %s: %v", appFile, unwrapPath(err))
			}
		}
		appPw, err := readOrCreateSecret(appFile)
		if err != nil {
			return err
		}
		if err := ensureAppRole(ctx, conn, e.database, appPw); err != nil {
			return err
		}
		e.appPassword = appPw
		dconn, err := pgx.Connect(ctx, e.URL(e.database))
		if err != nil {
			return fmt.Errorf("cannot connect to database %q in the embedded server: %v", e.database, describe(err))
		}
		err = ownPublicObjects(ctx, dconn)
		dconn.Close(context.Background())
		if err != nil {
			return err
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

// ensureAppRole creates AppRole with password (or sets it) and the database owned by it.
func ensureAppRole(ctx context.Context, conn *pgx.Conn, database, password string) error {
	if !isHex(password) {
		return errors.New("the application role's password file does not hold a generated password: remove " + appPasswordName + " from the data directory to generate a new one")
	}
	role := pgx.Identifier{AppRole}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", AppRole).Scan(&exists); err != nil {
		return fmt.Errorf("cannot list the embedded server's roles: %v", describe(err))
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"); err != nil {
			return fmt.Errorf("cannot create the application role: %v", describe(err))
		}
	}
	// The password is hex (checked above), so the literal needs no escaping. Set at every start:
	// the file is the truth, and only this program uses the role.
	if _, err := conn.Exec(ctx, "ALTER ROLE "+role+" WITH LOGIN NOSUPERUSER PASSWORD '"+password+"'"); err != nil {
		return fmt.Errorf("cannot set the application role's password: %v", describe(err))
	}
	var owner string
	err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database).Scan(&owner)
	db := pgx.Identifier{database}.Sanitize()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+role); err != nil {
			return fmt.Errorf("cannot create database %q in the embedded server: %v", database, describe(err))
		}
	case err != nil:
		return fmt.Errorf("cannot list the embedded server's databases: %v", describe(err))
	case owner != AppRole:
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" OWNER TO "+role); err != nil {
			return fmt.Errorf("cannot hand database %q to the application role: %v", database, describe(err))
		}
	}
	if _, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+db+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("cannot restrict database %q: %v", database, describe(err))
	}
	return nil
}

// ownPublicObjects hands every table, view, sequence and function in schema public that the
// application role does not own yet to it (one transaction).
func ownPublicObjects(ctx context.Context, conn *pgx.Conn) error {
	role := pgx.Identifier{AppRole}.Sanitize()
	var stmts []string
	rows, err := conn.Query(ctx, `
		SELECT CASE WHEN c.relkind = 'S' THEN 'ALTER SEQUENCE ' WHEN c.relkind IN ('v') THEN 'ALTER VIEW '
		            WHEN c.relkind = 'm' THEN 'ALTER MATERIALIZED VIEW ' ELSE 'ALTER TABLE ' END || c.oid::regclass::text
		FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
		  AND pg_get_userbyid(c.relowner) <> $1
		  -- identity and serial sequences follow their table
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
		UNION ALL
		SELECT 'ALTER FUNCTION ' || p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> $1
		UNION ALL
		SELECT 'ALTER SCHEMA public' FROM pg_namespace n
		WHERE n.nspname = 'public' AND pg_get_userbyid(n.nspowner) NOT IN ($1, 'pg_database_owner')`, AppRole)
	if err != nil {
		return fmt.Errorf("cannot list the application database's objects: %v", describe(err))
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		stmts = append(stmts, s+" OWNER TO "+role)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot list the application database's objects: %v", describe(err))
	}
	if len(stmts) == 0 {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot hand the application database's objects to the application role: %v", describe(err))
		}
	}
	return tx.Commit(ctx)
}

// URL is the superuser's connection URL (with the password) of database on this server: for
// maintenance (backups, tests), never for the application.
func (e *Embedded) URL(database string) string { return superURL(e.pm.port, e.password, database) }

// AppURL is the application role's connection URL of the application database (the superuser's
// when the server was started without one).
func (e *Embedded) AppURL() string { return e.AppURLFor(e.database) }

// AppURLFor is the application role's connection URL of database (restore builds the new copy
// of the application database as the role that will own it).
func (e *Embedded) AppURLFor(database string) string {
	if e.appPassword == "" {
		return e.URL(database)
	}
	if e.pm.socketDir != "" {
		return socketURL(AppRole, e.appPassword, e.pm.socketDir, e.pm.port, database)
	}
	return connURL(AppRole, e.appPassword, e.pm.port, database)
}

// socketsUsable tells whether PostgreSQL can listen on a Unix socket in dir: not on Windows (its
// PostgreSQL builds are not all built with them), and only when the socket's path fits in
// sun_path (108 bytes on Linux, 104 on macOS and the BSDs, the NUL included).
func socketsUsable(dir string) bool {
	maxPath := 103
	switch runtime.GOOS {
	case "windows":
		return false
	case "linux":
		maxPath = 107
	}
	return len(filepath.Join(dir, ".s.PGSQL.65535.lock")) <= maxPath
}

// RunningURL returns the superuser's connection URL of database on the embedded server that
// another process (serve) runs in dataDir, found through the data directory's lock file; ok is
// false when no process owns dataDir or its server has no port yet. Tools such as backup use it
// to work beside a running server instead of starting their own.
func RunningURL(dataDir, database string) (url string, owner LockInfo, ok bool, err error) {
	owner, held, err := Owner(dataDir)
	if err != nil || !held || owner.Port == 0 {
		return "", owner, false, err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, passwordName))
	if err != nil {
		return "", owner, false, fmt.Errorf("cannot read the embedded server's password file: %v", unwrapPath(err))
	}
	return superURL(owner.Port, strings.TrimSpace(string(b)), database), owner, true, nil
}

// ClusterExists reports whether dataDir holds a PostgreSQL cluster (tools that only read it, such
// as backup, must not create one).
func ClusterExists(dataDir string) bool {
	_, isNew, err := inspectCluster(filepath.Join(dataDir, clusterDirName))
	return err != nil || !isNew
}

// Info describes the running server.
func (e *Embedded) Info() Info { return e.info }

// Failed is closed when the server died and could not be restarted; Err then says why.
func (e *Embedded) Failed() <-chan struct{} { return e.pm.failed }

// Err is the reason Failed was closed, else nil.
func (e *Embedded) Err() error {
	e.pm.mu.Lock()
	defer e.pm.mu.Unlock()
	return e.pm.failErr
}

// Stop stops the server within DefaultStopTimeout and releases the data directory.
func (e *Embedded) Stop() error { return e.StopWithin(DefaultStopTimeout) }

// StopWithin stops the server within timeout (fast, then immediate shutdown) and releases the
// data directory's lock. A server that is already gone is not an error. It is safe to call more
// than once; later calls return the first result.
func (e *Embedded) StopWithin(timeout time.Duration) error {
	e.stopOnce.Do(func() {
		start := time.Now()
		if err := e.pm.stop(timeout); err != nil {
			e.stopErr = fmt.Errorf("cannot stop the embedded PostgreSQL server in %s: %v", e.info.DataDir, err)
		} else {
			e.log.Debug("embedded PostgreSQL stopped", "took", time.Since(start).Round(time.Millisecond).String())
		}
		locksMu.Lock()
		e.lock.serving = false
		locksMu.Unlock()
		e.lock.Release()
	})
	return e.stopErr
}

// readOrCreateSecret returns the secret kept in path, generating it when the file is missing or
// empty. A new secret is written under a unique temporary name and linked into place, which
// fails if the file appeared meanwhile; an existing file is never rewritten.
func readOrCreateSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("the password file %s is empty: remove it (only when no PostgreSQL cluster was created with it) or put back its content", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot read %s: %v", path, unwrapPath(err))
	}
	secret := randomHex(24)
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return "", fmt.Errorf("cannot write in %s: %v", filepath.Dir(path), unwrapPath(err))
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(secret + "\n")
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return "", fmt.Errorf("cannot write %s: %v", f.Name(), unwrapPath(err))
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readOrCreateSecret(path)
		}
		return "", fmt.Errorf("cannot write %s: %v", path, unwrapPath(err))
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return secret, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // a directory cannot be fsynced there; NTFS journals its entries itself
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %v", dir, err)
	}
	return nil
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
