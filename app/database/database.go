// Package database owns the PostgreSQL connection: it starts the embedded server (or connects to an
// external one), builds the pgx pool, and migrates the schema under an advisory lock (migrate.go).
//
// Start-up, as the serve command must do it:
//
//	cfg.DataDir = database.DataDir(cfg)                 // before dropping privileges
//	privilege.DropIfRoot(cfg.Embedded.RunAs, cfg.DataDir) // embedded mode, when root
//	db, err := database.Open(ctx, cfg, log)
//	defer db.Close()                                      // pool, then the embedded server
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"healthcare/app/config"
	"healthcare/app/privilege"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Info describes the database in use, for logs and the readiness endpoint. It holds no password.
type Info struct {
	Mode           string // "embedded" or "external"
	Version        string // PostgreSQL server version, e.g. "15.18 (Debian 15.18-0+deb12u1)"
	BinariesSource string // embedded: "embedded.binaries_path", "pg_config", "/usr/lib/postgresql", "PATH" or "downloaded"
	BinDir         string // embedded: the bin/ directory used
	DataDir        string // embedded: the cluster directory (<data_dir>/postgres)
	LogFile        string // embedded: PostgreSQL's log files (<data_dir>/postgres-*.log; start-up failures in postgres.log)
	Port           int    // embedded: the port on 127.0.0.1; external: the URL's port
	URL            string // connection URL with the password redacted
}

// DB is the open database: a pool, and the embedded server when there is one.
type DB struct {
	Pool *pgxpool.Pool
	Info Info

	server    *Embedded
	closeOnce sync.Once
	closeErr  error
}

// SchemaLockID is the advisory lock key that serialises schema changes (see Migrate).
const SchemaLockID int64 = 0x6865616c7468 // "health"

// DataDir returns cfg.DataDir, or when empty the default: /var/lib/healthcare for root, else
// %LOCALAPPDATA%\healthcare on Windows, ~/Library/Application Support/healthcare on macOS,
// $XDG_DATA_HOME/healthcare or ~/.local/share/healthcare elsewhere. Call it before dropping
// privileges and store the result in cfg.DataDir.
func DataDir(cfg *config.Config) string {
	if cfg.DataDir != "" {
		if abs, err := filepath.Abs(cfg.DataDir); err == nil {
			return abs
		}
		return cfg.DataDir
	}
	if os.Geteuid() == 0 {
		return "/var/lib/healthcare"
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); filepath.IsAbs(d) {
			return filepath.Join(d, "healthcare")
		}
	case "darwin":
		if home, err := os.UserHomeDir(); err == nil && home != "" {
			return filepath.Join(home, "Library", "Application Support", "healthcare")
		}
	}
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "healthcare")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "share", "healthcare")
	}
	return filepath.Join(os.TempDir(), "healthcare")
}

// MaxConns is the pool size for cfg: database.max_conns, or 0 → max(4, 4*GOMAXPROCS).
func MaxConns(cfg *config.Config) int {
	if cfg.Database.MaxConns > 0 {
		return cfg.Database.MaxConns
	}
	return max(4, 4*runtime.GOMAXPROCS(0))
}

// Open connects to the configured database (Connect) and brings its schema to the latest version
// (Migrate). Errors are one sentence and never contain a password.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*DB, error) {
	db, err := Connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if _, err := Migrate(ctx, db.Pool, MigrateOptions{Log: log}); err != nil {
		db.Close()
		return nil, err
	}
	if log != nil && !SearchIndexed(ctx, db.Pool) {
		log.Warn("database: the search indexes are missing (pg_trgm could not be created: no contrib package, or no CREATE privilege on the database); searches read every row and may hit database.search_timeout on large data. Install pg_trgm, then run app/database/migrations/0005_search_indexes.sql again as the database owner")
	}
	return db, nil
}

// SearchIndexed reports whether the trigram indexes of migration 0005 exist (false also when the
// question cannot be answered).
func SearchIndexed(ctx context.Context, q RowQuerier) bool {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass('patients_search_idx') IS NOT NULL
		AND to_regclass('doctors_search_idx') IS NOT NULL AND to_regclass('users_search_idx') IS NOT NULL`).Scan(&ok)
	return err == nil && ok
}

// Connect connects to the configured database without changing its schema. With database.url
// empty it starts the embedded server in <data_dir>/postgres first (the process must not be root:
// see package privilege). Errors are one sentence and never contain a password.
func Connect(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...ConnectOption) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxConns := MaxConns(cfg)
	if !cfg.EmbeddedMode() {
		db, err := openExternal(ctx, cfg.Database.URL, maxConns, cfg.Database.ConnectTimeout, log, opts)
		if err != nil {
			return nil, err
		}
		log.Debug("database: external PostgreSQL", "url", db.Info.URL, "version", db.Info.Version)
		return db, nil
	}

	start := time.Now()
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = DataDir(cfg)
	}
	srv, err := StartEmbedded(ctx, EmbeddedOptions{
		DataDir:         dataDir,
		BinariesPath:    cfg.Embedded.BinariesPath,
		Binaries:        cfg.Embedded.Binaries,
		Download:        cfg.Embedded.Download,
		DownloadVersion: cfg.Embedded.DownloadVersion,
		Port:            cfg.Embedded.Port,
		Database:        cfg.Embedded.Database,
		MaxConnections:  max(100, maxConns+20),
		LogRotationKB:   cfg.Embedded.LogMaxSizeMB * 1024,
	}, log)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(srv.AppURL())
	if err != nil {
		srv.Stop()
		return nil, err
	}
	configurePool(pcfg, maxConns, opts)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("cannot open a connection pool to the embedded PostgreSQL server: %v", err)
	}
	db := &DB{Pool: pool, Info: srv.Info(), server: srv}
	log.Debug("database: embedded PostgreSQL started",
		"version", db.Info.Version, "binaries", db.Info.BinDir, "found_by", db.Info.BinariesSource,
		"cluster", db.Info.DataDir, "log", db.Info.LogFile, "port", db.Info.Port,
		"took", time.Since(start).Round(time.Millisecond).String())
	return db, nil
}

func openExternal(ctx context.Context, rawURL string, maxConns int, wait time.Duration, log *slog.Logger, opts []ConnectOption) (*DB, error) {
	red := redactURL(rawURL)
	pcfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database.url %s is not a valid PostgreSQL URL: use postgres://user:password@host:5432/dbname", red)
	}
	configurePool(pcfg, maxConns, opts)
	where := fmt.Sprintf("%s as user %q (database %q)", net.JoinHostPort(pcfg.ConnConfig.Host, fmt.Sprint(pcfg.ConnConfig.Port)), pcfg.ConnConfig.User, pcfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s: %v", where, describe(err))
	}
	pctx, cancel := context.WithTimeout(ctx, max(wait, time.Second))
	defer cancel()
	conn, err := acquireWhenUp(pctx, pool, where, log)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s: %v", where, describe(err))
	}
	version := serverVersion(pctx, conn.Conn())
	conn.Release()
	return &DB{Pool: pool, Info: Info{Mode: "external", Version: version, Port: int(pcfg.ConnConfig.Port), URL: red}}, nil
}

// configurePool sizes the pool and sets what every connection runs with. plan_cache_mode: the
// store's statements are prepared once per connection (pgx's statement cache) and their plans do
// not depend on the values; left to "auto", PostgreSQL re-plans the coalesced batch statements at
// every execution (their custom plans look cheaper than the generic one), which cost more than
// running them.
func configurePool(pcfg *pgxpool.Config, maxConns int, opts []ConnectOption) {
	for _, o := range opts {
		o(pcfg)
	}
	pcfg.MaxConns = int32(maxConns)
	if pcfg.ConnConfig.RuntimeParams == nil {
		pcfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, set := pcfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		pcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
}

// acquireWhenUp takes a connection, retrying while the server is not up yet (refused, unreachable,
// starting up) until ctx ends; authentication and missing-database errors end it at once.
func acquireWhenUp(ctx context.Context, pool *pgxpool.Pool, where string, log *slog.Logger) (*pgxpool.Conn, error) {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := pool.Acquire(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return conn, err
		}
		if attempt == 1 {
			log.Warn("database: PostgreSQL is not accepting connections yet; waiting (database.connect_timeout)",
				"at", where, "cause", describe(err))
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// transient reports whether a connection error may go away by itself: the server refuses or
// cannot be reached, or is starting up, shutting down or in recovery (57P03).
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P03"
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED)
}

// describe turns a connection error into a short cause without credentials.
func describe(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return "authentication failed: check the user name and password in database.url"
		case "3D000":
			return "the database does not exist: create it or fix the name in database.url"
		}
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out: check that the server is running and reachable"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error() + ": check that the server is running and reachable"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unknown host " + dnsErr.Name
	}
	// pgconn's ConnectError text names user and database but never the password.
	return err.Error()
}

// Ping checks that the database answers, for readiness checks.
func (db *DB) Ping(ctx context.Context) error {
	return db.Pool.Ping(ctx)
}

// Failed is closed when the embedded server died and could not be restarted (never for an
// external database: its availability is its operators' business, and requests answer 503 while
// it is away). FailErr says why.
func (db *DB) Failed() <-chan struct{} {
	if db.server == nil {
		return nil
	}
	return db.server.Failed()
}

// FailErr is the reason Failed was closed.
func (db *DB) FailErr() error {
	if db.server == nil {
		return nil
	}
	return db.server.Err()
}

// Embedded is the embedded server, nil for an external database.
func (db *DB) Embedded() *Embedded { return db.server }

// Close closes the pool, then stops the embedded server if there is one, within
// DefaultStopTimeout. It may be called more than once.
func (db *DB) Close() error { return db.CloseWithin(DefaultStopTimeout) }

// CloseWithin is Close with the embedded server's stop bounded by timeout.
func (db *DB) CloseWithin(timeout time.Duration) error {
	if db == nil {
		return nil
	}
	db.closeOnce.Do(func() {
		if db.Pool != nil {
			db.Pool.Close()
		}
		if db.server != nil {
			db.closeErr = db.server.StopWithin(timeout)
		}
	})
	return db.closeErr
}

func serverVersion(ctx context.Context, conn *pgx.Conn) string {
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return ""
	}
	return v
}

// redactURL makes a URL (config.RedactURL) or key=value DSN safe to log.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		return config.RedactURL(raw)
	}
	if c, err := pgconn.ParseConfig(raw); err == nil {
		return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", c.Host, c.Port, c.User, c.Database)
	}
	return "[unparseable database URL]"
}

func checkWritable(dir string) error { return privilege.CheckWritable(dir) }
