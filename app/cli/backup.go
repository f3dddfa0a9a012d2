package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"healthcare/app/backup"
	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/maintenance"
)

func backupDir(cfg *config.Config) string { return backup.Dir(cfg.DataDir) }

// program names this release in the backups it writes.
func program() string { return "healthcare " + Version }

// backupCommand is `healthcare backup [--out FILE] [--list]`.
func backupCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	var out string
	var list bool
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Write a consistent backup of the database (while the server runs, too)",
		Long: "backup writes one self-checking file (mode 0600) holding every table of the database, taken\n" +
			"from one snapshot, so the server may keep running and writing meanwhile. With the embedded\n" +
			"database the file goes to <data_dir>/backups/ unless --out says otherwise; with database.url\n" +
			"it goes to the current directory. Restore it with 'healthcare restore FILE --yes'.\n\n" +
			"--list lists the backups in <data_dir>/backups/, newest first, each verified.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				return listBackups(cmd, a, stdout, stderr)
			}
			return runBackup(cmd, a, out, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: <data_dir>/backups/healthcare-<time>-v<schema>.backup)")
	cmd.Flags().BoolVar(&list, "list", false, "list the backups in <data_dir>/backups and verify each")
	return cmd
}

func runBackup(cmd *cobra.Command, a Assets, out string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	conn, done, err := maintenanceConn(ctx, cfg, "backup", log)
	if err != nil {
		return err
	}
	defer done()
	dir := backupDir(cfg)
	if !cfg.EmbeddedMode() {
		dir = "."
	}
	path, meta, err := backup.Write(ctx, conn, dir, out, program())
	if err != nil {
		return err
	}
	st, _ := os.Stat(path)
	var size int64
	if st != nil {
		size = st.Size()
	}
	fmt.Fprintf(stdout, "backup written: %s (%s, schema version %d, PostgreSQL %s; %s)\n",
		path, humanBytes(size), meta.SchemaVersion, meta.PostgresVersion, tableCounts(meta))
	return nil
}

// maintenanceConn connects to the application database for a tool: the external database; or the
// embedded server a running `serve` owns (found through the data directory's lock file); or,
// when none runs, the embedded server started for the tool alone under the data directory's lock.
// done closes the connection and stops what was started.
func maintenanceConn(ctx context.Context, cfg *config.Config, command string, log *slog.Logger) (*pgx.Conn, func(), error) {
	connect := func(url string) (*pgx.Conn, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return pgx.Connect(cctx, url)
	}
	if !cfg.EmbeddedMode() {
		conn, err := connect(cfg.Database.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot connect to the database: %v", err)
		}
		return conn, func() { conn.Close(context.Background()) }, nil
	}
	if u, owner, ok, err := database.RunningURL(cfg.DataDir, cfg.Embedded.Database); err != nil {
		return nil, nil, err
	} else if ok {
		log.Info("using the embedded PostgreSQL of the running server", "pid", owner.PID, "command", owner.Command)
		conn, err := connect(u)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot connect to the embedded PostgreSQL of the running server (pid %d): %v", owner.PID, err)
		}
		return conn, func() { conn.Close(context.Background()) }, nil
	}
	if !database.ClusterExists(cfg.DataDir) {
		return nil, nil, fmt.Errorf("there is no database in %s yet: nothing to back up (start the server once, or set data_dir)", cfg.DataDir)
	}
	srv, err := startEmbedded(ctx, cfg, command, log)
	if err != nil {
		return nil, nil, err
	}
	conn, err := connect(srv.URL(cfg.Embedded.Database))
	if err != nil {
		srv.Stop()
		return nil, nil, fmt.Errorf("cannot connect to the embedded PostgreSQL: %v", err)
	}
	return conn, func() { conn.Close(context.Background()); srv.Stop() }, nil
}

// startEmbedded starts the embedded server for a tool (no pool, no migrations).
func startEmbedded(ctx context.Context, cfg *config.Config, command string, log *slog.Logger) (*database.Embedded, error) {
	return database.StartEmbedded(ctx, database.EmbeddedOptions{
		DataDir:         cfg.DataDir,
		BinariesPath:    cfg.Embedded.BinariesPath,
		Binaries:        cfg.Embedded.Binaries,
		Download:        cfg.Embedded.Download,
		DownloadVersion: cfg.Embedded.DownloadVersion,
		Port:            cfg.Embedded.Port,
		Database:        cfg.Embedded.Database,
		LogRotationKB:   cfg.Embedded.LogMaxSizeMB * 1024,
		Command:         command,
	}, log)
}

func listBackups(cmd *cobra.Command, a Assets, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	dir := backupDir(cfg)
	entries, err := backup.List(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no backups in %s\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tCREATED\tSIZE\tSCHEMA\tSTATE")
	for _, e := range entries {
		state, schema := "ok", "?"
		if e.Err != nil {
			state = "DAMAGED: " + e.Err.Error()
		} else {
			schema = fmt.Sprintf("v%d", e.Meta.SchemaVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Path, e.Time.Local().Format("2006-01-02 15:04:05"), humanBytes(e.Size), schema, state)
	}
	return tw.Flush()
}

// restoreCommand is `healthcare restore FILE --yes`.
func restoreCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the database's contents with a backup (needs --yes; the server must be stopped)",
		Long: "restore checks FILE completely, loads it into a new database, and only when that fully\n" +
			"succeeded swaps it in place of the current one; the current data is kept beside it (as\n" +
			"database <name>_before_restore_<time>) and stays in use if anything fails or the restore is\n" +
			"interrupted. Then it applies this release's migrations. It works into an empty data\n" +
			"directory too (disaster recovery). Stop the server first.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd, a, args[0], yes, stdout, stderr)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really replace the database's contents")
	return cmd
}

func runRestore(cmd *cobra.Command, a Assets, file string, yes bool, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// Read the file before dropping privileges: root may restore a file only root can read.
	meta, err := backup.ReadMeta(file)
	if err != nil {
		return err
	}
	if meta.SchemaVersion > database.LatestVersion() {
		return fmt.Errorf("%s was made by a newer release (schema version %d; this one knows up to %d): restore it with that release or a newer one", file, meta.SchemaVersion, database.LatestVersion())
	}
	if !yes {
		return configError(fmt.Errorf("restore replaces every row of the database with the contents of %s (made %s, schema version %d; %s): run it again with --yes to do so (the current data is kept beside it)",
			file, meta.CreatedAt.Local().Format("2006-01-02 15:04:05"), meta.SchemaVersion, tableCounts(meta)))
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("cannot open %s: %v", file, unwrapPath(err))
	}
	defer f.Close()
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	// After the drop the file may no longer be readable by path: restore reads it through the
	// descriptor opened as the original user.
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(path); err != nil {
		path = file
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()

	var t restoreTarget
	if cfg.EmbeddedMode() {
		lock, err := database.LockDataDir(cfg.DataDir, "restore")
		if err != nil {
			if errors.Is(err, database.ErrLocked) {
				return fmt.Errorf("%v: restore needs the server stopped", err)
			}
			return err
		}
		defer lock.Release()
		srv, err := startEmbedded(ctx, cfg, "restore", log)
		if err != nil {
			return err
		}
		defer srv.Stop()
		t = restoreTarget{name: cfg.Embedded.Database, owner: database.AppRole, adminURL: srv.URL, appURL: srv.AppURLFor}
	} else {
		t, err = externalTarget(cfg.Database.URL)
		if err != nil {
			return err
		}
	}
	kept, err := restoreInto(ctx, t, path, meta, log)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("restore was interrupted; the database was not changed")
		}
		return err
	}
	fmt.Fprintf(stdout, "restored %s (made %s, schema version %d; %s) into database %q\n",
		file, meta.CreatedAt.Local().Format("2006-01-02 15:04:05"), meta.SchemaVersion, tableCounts(meta), t.name)
	if kept != "" {
		fmt.Fprintf(stdout, "the previous data is kept as database %q; it is no longer used\n", kept)
	}
	return nil
}

// restoreTarget says where restore works: the database to replace and how to reach the server.
type restoreTarget struct {
	name     string              // the application database
	owner    string              // role to own the new database; "" the connecting user
	adminURL func(string) string // a role that may create and rename databases
	appURL   func(string) string // the role the application connects as
	// check, when set, runs on the loaded copy before it is swapped in; its error abandons the
	// restore with the current data in place.
	check func(ctx context.Context, conn *pgx.Conn) error
}

func externalTarget(raw string) (restoreTarget, error) {
	pc, err := pgx.ParseConfig(raw)
	if err != nil {
		return restoreTarget{}, fmt.Errorf("database.url is not a valid PostgreSQL URL: %v", err)
	}
	replace := func(db string) string { return replaceDatabase(raw, db) }
	return restoreTarget{name: pc.Database, adminURL: replace, appURL: replace}, nil
}

// replaceDatabase returns the URL raw with its database name set to db.
func replaceDatabase(raw, db string) string {
	if strings.Contains(raw, "://") {
		if u, err := url.Parse(raw); err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return raw + " dbname=" + db
}

// restoreInto loads file into a new database and swaps it in place of t.name; it returns the
// name the previous database is kept under ("" when there was nothing to keep).
func restoreInto(ctx context.Context, t restoreTarget, file string, meta backup.Meta, log *slog.Logger) (string, error) {
	admin, err := pgx.Connect(ctx, t.adminURL("postgres"))
	if err != nil {
		return "", fmt.Errorf("cannot connect to the server to create the new database: %v", err)
	}
	defer admin.Close(context.Background())
	tmp := t.name + "_restoring"
	ident := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	// A leftover of an interrupted restore never held the live data.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(tmp)); err != nil {
		return "", fmt.Errorf("cannot remove the unfinished database %q of an earlier restore: %v", tmp, err)
	}
	create := "CREATE DATABASE " + ident(tmp)
	if t.owner != "" {
		create += " OWNER " + ident(t.owner)
	}
	log.Info("restore: loading the backup into a new database", "database", tmp)
	if _, err := admin.Exec(ctx, create); err != nil {
		return "", fmt.Errorf("cannot create the database %q to restore into (the role needs CREATEDB): %v", tmp, err)
	}
	fail := func(err error) (string, error) {
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(tmp))
		return "", err
	}
	pool, err := pgxpool.New(ctx, t.appURL(tmp))
	if err != nil {
		return fail(fmt.Errorf("cannot connect to the new database: %v", err))
	}
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{Target: meta.SchemaVersion, Log: log}); err != nil {
		pool.Close()
		return fail(err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return fail(fmt.Errorf("cannot connect to the new database: %v", err))
	}
	_, err = backup.Restore(ctx, c.Conn(), file)
	if err == nil && t.check != nil {
		err = t.check(ctx, c.Conn())
	}
	c.Release()
	pool.Close()
	if err != nil {
		return fail(err)
	}

	// The swap: both renames in one transaction, with nobody else on the live database.
	var others int
	admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", t.name).Scan(&others)
	if others > 0 {
		return fail(fmt.Errorf("%d other sessions use database %q: stop every healthcare server using it and try again (nothing was changed)", others, t.name))
	}
	var exists bool
	admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", t.name).Scan(&exists)
	kept := ""
	tx, err := admin.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	if exists {
		kept = fmt.Sprintf("%s_before_restore_%s", t.name, time.Now().UTC().Format("20060102T150405Z"))
		if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(t.name)+" RENAME TO "+ident(kept)); err != nil {
			tx.Rollback(context.Background())
			return fail(fmt.Errorf("cannot set the current database aside: %v", err))
		}
	}
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(tmp)+" RENAME TO "+ident(t.name)); err != nil {
		tx.Rollback(context.Background())
		return fail(fmt.Errorf("cannot put the restored database in place: %v", err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(fmt.Errorf("cannot put the restored database in place: %v", err))
	}
	log.Info("restore: the restored database is in place", "database", t.name, "previous_kept_as", kept)

	// This release's migrations on top.
	pool, err = pgxpool.New(ctx, t.appURL(t.name))
	if err != nil {
		return kept, fmt.Errorf("restored, but cannot connect to apply this release's migrations (the server will at its next start): %v", err)
	}
	applied, err := database.Migrate(ctx, pool, database.MigrateOptions{Log: log})
	pool.Close()
	if err != nil {
		return kept, fmt.Errorf("restored, but this release's migrations failed: %v", err)
	}
	if len(applied) > 0 {
		log.Info("restore: migrated the restored data to this release", "migrations", len(applied))
	}
	// A previous database holding no relation at all (the empty one a first start creates) held
	// nothing to keep. Not "no schema of ours": with an external database it may share the
	// original system's tables.
	if kept != "" {
		if c, err := pgx.Connect(ctx, t.appURL(kept)); err == nil {
			var relations int
			cerr := c.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
				  AND n.nspname NOT LIKE 'pg\_temp%'`).Scan(&relations)
			c.Close(context.Background())
			if cerr == nil && relations == 0 {
				if _, err := admin.Exec(ctx, "DROP DATABASE "+ident(kept)); err == nil {
					kept = ""
				}
			}
		}
	}
	return kept, nil
}

func tableCounts(m backup.Meta) string {
	names := make([]string, 0, len(m.Tables))
	for n := range m.Tables {
		if n != "schema_migrations" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, m.Tables[n]))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// scheduledBackup is the serve's maintenance job for the embedded mode: it writes a backup into
// <data_dir>/backups when the newest one there is older than backup.schedule (so restarts do not
// multiply them), then keeps the newest backup.keep.
func scheduledBackup(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) maintenance.Job {
	return maintenance.Job{
		Name:  "backup",
		Every: min(cfg.Backup.Schedule, 30*time.Minute),
		Run: func(ctx context.Context) error {
			dir := backupDir(cfg)
			if time.Since(backup.Newest(dir)) < cfg.Backup.Schedule {
				return nil
			}
			return backupNow(ctx, cfg, pool, "scheduled", log)
		},
	}
}

// backupNow writes a backup of pool's database into <data_dir>/backups and prunes old ones.
func backupNow(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, why string, log *slog.Logger) error {
	_, _, err := backup.Now(ctx, pool, backupDir(cfg), cfg.Backup.Keep, program(), why, log)
	return err
}

// beforeUpgrade is the migrations' hook: with the embedded database, a backup before any schema
// change, so an upgrade can always be undone with 'healthcare restore'.
func beforeUpgrade(cfg *config.Config, db *database.DB, log *slog.Logger) func(context.Context, []database.Migration) error {
	if !cfg.EmbeddedMode() {
		return nil
	}
	return func(ctx context.Context, pending []database.Migration) error {
		if err := backupNow(ctx, cfg, db.Pool, fmt.Sprintf("before %d schema migrations", len(pending)), log); err != nil {
			return fmt.Errorf("the backup before the schema upgrade failed, so nothing was changed: %v", err)
		}
		return nil
	}
}

// openDatabase is the one start-up path of the database for serve: connect (starting the embedded
// server), then migrate with a backup before any upgrade.
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...database.ConnectOption) (*database.DB, error) {
	db, err := database.Connect(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := database.Migrate(ctx, db.Pool, database.MigrateOptions{Log: log, BeforeUpgrade: beforeUpgrade(cfg, db, log)}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
