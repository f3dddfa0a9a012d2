package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"healthcare/app/backup"
	"healthcare/app/config"
	"healthcare/app/database"
)

// upgradeFlags are the options of `healthcare upgrade-postgres`.
type upgradeFlags struct {
	oldBinaries string // the cluster's own major; default: discovered
	newBinaries string // the major to move to; default: embedded.binaries_path when newer, else the newest discovered
	cleanup     bool
	yes         bool
}

// upgradePostgresCommand is `healthcare upgrade-postgres [--cleanup --yes]`.
func upgradePostgresCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	var f upgradeFlags
	cmd := &cobra.Command{
		Use:   "upgrade-postgres",
		Short: "Move the embedded database to a newer PostgreSQL major version (the server must be stopped)",
		Long: "upgrade-postgres moves the embedded cluster to the newest installed PostgreSQL major version\n" +
			"(after an upgrade of the operating system, e.g. Debian 12 to 13: PostgreSQL 15 to 17). It\n" +
			"starts the cluster with its own major's binaries and writes a backup into <data_dir>/backups,\n" +
			"moves the cluster aside to <data_dir>/postgres.old-<major>, creates a new cluster with the new\n" +
			"binaries, restores the backup into it and checks every table's row count. If anything fails\n" +
			"the old cluster is put back and serves as before.\n\n" +
			"It needs both majors: the new one is embedded.binaries_path when that is newer than the\n" +
			"cluster, else the newest installed (pg_config, /usr/lib/postgresql/*, PATH); the old one is\n" +
			"found the same way (keep its package installed until the upgrade is done). --old-binaries\n" +
			"and --new-binaries name them instead.\n\n" +
			"The old cluster is kept until 'healthcare upgrade-postgres --cleanup --yes' removes it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUpgradePostgres(cmd, a, f, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&f.oldBinaries, "old-binaries", "", "folder of the PostgreSQL installation of the cluster's major version (default: found)")
	cmd.Flags().StringVar(&f.newBinaries, "new-binaries", "", "folder of the PostgreSQL installation to move to (default: embedded.binaries_path when newer, else the newest found)")
	cmd.Flags().BoolVar(&f.cleanup, "cleanup", false, "remove the old clusters (postgres.old-*) that earlier upgrades kept")
	cmd.Flags().BoolVar(&f.yes, "yes", false, "with --cleanup: really remove them")
	return cmd
}

func runUpgradePostgres(cmd *cobra.Command, a Assets, f upgradeFlags, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	if !cfg.EmbeddedMode() {
		return configError(errors.New("upgrade-postgres works on the embedded PostgreSQL only: with database.url, upgrade your PostgreSQL with its own tools (pg_upgrade, or pg_dump and pg_restore)"))
	}
	if f.yes && !f.cleanup {
		return configError(errors.New("--yes goes with --cleanup only: the upgrade itself needs no confirmation (it keeps the old cluster)"))
	}
	log := newLogger(cfg, stderr)
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	lock, err := database.LockDataDir(cfg.DataDir, "upgrade-postgres")
	if err != nil {
		if errors.Is(err, database.ErrLocked) {
			return fmt.Errorf("%v: upgrade-postgres needs the server stopped", err)
		}
		return err
	}
	defer lock.Release()
	if f.cleanup {
		return cleanupOldClusters(cfg.DataDir, f.yes, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return upgradePostgres(ctx, cfg, f, log, stdout)
}

// upgradePostgres is the upgrade itself, under the data directory's lock.
func upgradePostgres(ctx context.Context, cfg *config.Config, f upgradeFlags, log *slog.Logger, stdout io.Writer) error {
	dataDir := cfg.DataDir
	// A killed earlier run: its marker keeps every start away until the old cluster is back.
	if st, ok, err := database.PendingUpgrade(dataDir); err != nil {
		return err
	} else if ok {
		failedAs, err := database.RollBackUpgrade(dataDir, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "an earlier upgrade to PostgreSQL %d did not finish: the PostgreSQL %d cluster is back in place", st.ToMajor, st.FromMajor)
		if failedAs != "" {
			fmt.Fprintf(stdout, " (its unfinished new cluster is kept as %s)", failedAs)
		}
		fmt.Fprintln(stdout, "; starting over")
	}

	major, exists, err := database.ClusterMajor(dataDir)
	if err != nil {
		return err
	}
	if !exists {
		fmt.Fprintf(stdout, "there is no PostgreSQL cluster in %s yet: nothing to upgrade\n", dataDir)
		return nil
	}
	oldInst, newInst, found, err := upgradeInstallations(ctx, cfg, major, f)
	if err != nil {
		return err
	}
	if newInst == nil {
		fmt.Fprintf(stdout, "the cluster in %s is PostgreSQL %d and no newer PostgreSQL is installed (%s): nothing to upgrade\n",
			database.ClusterDir(dataDir), major, describeInstallations(found))
		return nil
	}
	begin := time.Now()
	log.Info("upgrade-postgres: starting", "from", oldInst.Version, "from_binaries", oldInst.BinDir, "to", newInst.Version, "to_binaries", newInst.BinDir)

	// 1. A backup, made by the cluster's own major.
	file, meta, oldVersion, err := backupWith(ctx, cfg, oldInst, log)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("upgrade-postgres was interrupted before anything was changed")
		}
		return fmt.Errorf("%v; nothing was changed, the PostgreSQL %d cluster serves as before", err, major)
	}
	log.Info("upgrade-postgres: backup written", "path", file, "postgres", oldVersion)

	// 2. The old cluster aside (kept), a new one with the new binaries, the backup into it.
	oldDir, err := database.MoveClusterAside(dataDir, major, newInst.Major)
	if err != nil {
		return err
	}
	log.Info("upgrade-postgres: the old cluster is moved aside", "to", oldDir)
	newVersion, counts, err := restoreWith(ctx, cfg, *newInst, file, meta, log)
	if err != nil {
		failedAs, rbErr := database.RollBackUpgrade(dataDir, log)
		if rbErr != nil {
			return fmt.Errorf("the upgrade to PostgreSQL %d failed (%v) and the old cluster could not be put back: %v", newInst.Major, err, rbErr)
		}
		why := err.Error()
		if ctx.Err() != nil {
			why = "interrupted"
		}
		kept := ""
		if failedAs != "" {
			kept = fmt.Sprintf("; the unfinished new cluster is kept as %s (remove it when you no longer need it)", failedAs)
		}
		return fmt.Errorf("the upgrade to PostgreSQL %d failed: %s; the PostgreSQL %d cluster is back in place and serves as before, with every row%s", newInst.Major, why, major, kept)
	}
	if err := database.FinishUpgrade(dataDir); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "PostgreSQL upgraded: %s → %s in %s (%s)\n", oldVersion, newVersion, database.ClusterDir(dataDir), time.Since(begin).Round(time.Second))
	fmt.Fprintf(stdout, "rows, every table checked against the backup: %s\n", formatCounts(counts))
	fmt.Fprintf(stdout, "backup made before the upgrade: %s\n", file)
	fmt.Fprintf(stdout, "the PostgreSQL %d cluster is kept in %s; once the new one has served well, remove it with: healthcare upgrade-postgres --cleanup --yes\n", major, oldDir)
	if cfg.Embedded.BinariesPath != "" && !sameInstallation(cfg.Embedded.BinariesPath, newInst.BinDir) {
		fmt.Fprintf(stdout, "embedded.binaries_path is %s: set it to %s (or empty it) so the server uses PostgreSQL %d\n", cfg.Embedded.BinariesPath, filepath.Dir(newInst.BinDir), newInst.Major)
	}
	return nil
}

// upgradeInstallations picks the installation of the cluster's major (old) and the one to move to
// (new; nil when none is newer than the cluster). found is everything discovery saw.
func upgradeInstallations(ctx context.Context, cfg *config.Config, major int, f upgradeFlags) (old database.Installation, newer *database.Installation, found []database.Installation, err error) {
	found, err = database.Installations(ctx, cfg)
	if err != nil {
		return old, nil, nil, err
	}
	if f.newBinaries != "" {
		inst, err := database.FindInstallation(ctx, f.newBinaries)
		if err != nil {
			return old, nil, found, configError(fmt.Errorf("--new-binaries: %v", err))
		}
		if inst.Major <= major {
			return old, nil, found, configError(fmt.Errorf("--new-binaries %s is PostgreSQL %s, not newer than the cluster's PostgreSQL %d", f.newBinaries, inst.Version, major))
		}
		newer = &inst
	} else {
		// embedded.binaries_path (listed first) when it is newer, else the newest.
		for i, inst := range found {
			if inst.Major <= major {
				continue
			}
			if inst.Source == "embedded.binaries_path" {
				newer = &found[i]
				break
			}
			if newer == nil || inst.Major > newer.Major {
				newer = &found[i]
			}
		}
	}
	if f.oldBinaries != "" {
		inst, err := database.FindInstallation(ctx, f.oldBinaries)
		if err != nil {
			return old, nil, found, configError(fmt.Errorf("--old-binaries: %v", err))
		}
		if inst.Major != major {
			return old, nil, found, configError(fmt.Errorf("--old-binaries %s is PostgreSQL %s, but the cluster is PostgreSQL %d, which only PostgreSQL %d can read", f.oldBinaries, inst.Version, major, major))
		}
		return inst, newer, found, nil
	}
	for _, inst := range found {
		if inst.Major == major {
			return inst, newer, found, nil
		}
	}
	if newer == nil {
		return old, nil, found, nil // nothing to do anyway
	}
	return old, nil, found, fmt.Errorf("the cluster in %s is PostgreSQL %d, which only PostgreSQL %d can read, and no PostgreSQL %d server is installed (%s): install it again (on Debian the package postgresql-%d, which a release upgrade keeps until it is removed; apt.postgresql.org has every major), or name its folder with --old-binaries, then run 'healthcare upgrade-postgres' again (nothing was changed)",
		database.ClusterDir(cfg.DataDir), major, major, major, describeInstallations(found), major)
}

// backupWith starts the cluster with inst (its own major) and writes a backup of the application
// database into <data_dir>/backups; it returns the file, its description and the server's version.
func backupWith(ctx context.Context, cfg *config.Config, inst database.Installation, log *slog.Logger) (string, backup.Meta, string, error) {
	srv, err := database.StartEmbedded(ctx, upgradeOptions(cfg, inst, false), log)
	if err != nil {
		return "", backup.Meta{}, "", fmt.Errorf("cannot start the cluster with PostgreSQL %s (%s) to back it up: %w", inst.Version, inst.BinDir, err)
	}
	version := srv.Info().Version
	conn, err := pgx.Connect(ctx, srv.URL(cfg.Embedded.Database))
	if err != nil {
		srv.Stop()
		return "", backup.Meta{}, "", fmt.Errorf("cannot connect to the cluster to back it up: %v", err)
	}
	file, meta, err := backup.Write(ctx, conn, backupDir(cfg), "", program())
	conn.Close(context.Background())
	if stopErr := srv.Stop(); err == nil && stopErr != nil {
		err = stopErr
	}
	if err != nil {
		return "", meta, "", fmt.Errorf("cannot back up the cluster: %w", err)
	}
	return file, meta, version, nil
}

// restoreWith starts the new, empty cluster with inst, restores file into it, checks every
// table's row count against meta and stops the server. It returns the server's version and the
// row counts.
func restoreWith(ctx context.Context, cfg *config.Config, inst database.Installation, file string, meta backup.Meta, log *slog.Logger) (string, map[string]int64, error) {
	srv, err := database.StartEmbedded(ctx, upgradeOptions(cfg, inst, true), log)
	if err != nil {
		return "", nil, fmt.Errorf("cannot create the new cluster with PostgreSQL %s (%s): %w", inst.Version, inst.BinDir, err)
	}
	defer srv.Stop()
	version := srv.Info().Version
	tables := make([]string, 0, len(meta.Tables))
	for name := range meta.Tables {
		tables = append(tables, name)
	}
	sort.Strings(tables)
	// Checked on the loaded copy before it is swapped in (this release's migrations may add rows
	// to schema_migrations afterwards), and again on the live database when they add nothing.
	check := func(ctx context.Context, conn *pgx.Conn) error {
		got, err := countRows(ctx, conn, tables)
		if err != nil {
			return err
		}
		return compareCounts(got, meta.Tables)
	}
	t := restoreTarget{name: cfg.Embedded.Database, owner: database.AppRole, adminURL: srv.URL, appURL: srv.AppURLFor, check: check}
	if _, err := restoreInto(ctx, t, file, meta, log); err != nil {
		return "", nil, err
	}
	conn, err := pgx.Connect(ctx, srv.URL(cfg.Embedded.Database))
	if err != nil {
		return "", nil, fmt.Errorf("cannot connect to the new cluster to check it: %v", err)
	}
	defer conn.Close(context.Background())
	counts, err := countRows(ctx, conn, tables)
	if err != nil {
		return "", nil, err
	}
	if meta.SchemaVersion == database.LatestVersion() {
		if err := compareCounts(counts, meta.Tables); err != nil {
			return "", nil, err
		}
	}
	conn.Close(context.Background())
	if err := srv.Stop(); err != nil {
		return "", nil, err
	}
	return version, counts, nil
}

// upgradeOptions are the embedded server's options for one side of the upgrade: the given
// binaries only, never a download.
func upgradeOptions(cfg *config.Config, inst database.Installation, upgrading bool) database.EmbeddedOptions {
	return database.EmbeddedOptions{
		DataDir:       cfg.DataDir,
		BinariesPath:  inst.BinDir,
		Port:          cfg.Embedded.Port,
		Database:      cfg.Embedded.Database,
		LogRotationKB: cfg.Embedded.LogMaxSizeMB * 1024,
		Command:       "upgrade-postgres",
		Upgrading:     upgrading,
	}
}

// countRows counts the rows of each table of schema public.
func countRows(ctx context.Context, conn *pgx.Conn, tables []string) (map[string]int64, error) {
	out := make(map[string]int64, len(tables))
	for _, name := range tables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{"public", name}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("cannot count the rows of table %s in the new cluster: %v", name, err)
		}
		out[name] = n
	}
	return out, nil
}

func compareCounts(got, want map[string]int64) error {
	var diffs []string
	for name, w := range want {
		if got[name] != w {
			diffs = append(diffs, fmt.Sprintf("%s has %d rows, the backup %d", name, got[name], w))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("the new cluster does not hold what the backup holds: %s", strings.Join(diffs, "; "))
	}
	return nil
}

func formatCounts(counts map[string]int64) string {
	return tableCounts(backup.Meta{Tables: counts})
}

func describeInstallations(found []database.Installation) string {
	if len(found) == 0 {
		return "none found"
	}
	parts := make([]string, len(found))
	for i, inst := range found {
		parts[i] = fmt.Sprintf("PostgreSQL %s in %s", inst.Version, inst.BinDir)
	}
	return "found: " + strings.Join(parts, ", ")
}

// sameInstallation reports whether the configured embedded.binaries_path names binDir.
func sameInstallation(configured, binDir string) bool {
	for _, d := range []string{configured, filepath.Join(configured, "bin")} {
		a, err1 := filepath.EvalSymlinks(d)
		b, err2 := filepath.EvalSymlinks(binDir)
		if err1 == nil && err2 == nil && a == b {
			return true
		}
	}
	return false
}

// cleanupOldClusters removes the postgres.old-* directories of dataDir (only those), or without
// yes lists them and refuses.
func cleanupOldClusters(dataDir string, yes bool, stdout io.Writer) error {
	all, err := database.SetAsideClusters(dataDir)
	if err != nil {
		return err
	}
	var old, failed []database.SetAside
	for _, s := range all {
		if s.Failed {
			failed = append(failed, s)
		} else {
			old = append(old, s)
		}
	}
	for _, s := range failed {
		fmt.Fprintf(stdout, "not removed: %s (%s), the new cluster of a failed upgrade; remove it by hand when you no longer need it\n", s.Path, humanBytes(s.Size))
	}
	if len(old) == 0 {
		fmt.Fprintf(stdout, "no old PostgreSQL clusters in %s: nothing to remove\n", dataDir)
		return nil
	}
	list := make([]string, len(old))
	for i, s := range old {
		list[i] = fmt.Sprintf("%s (%s)", s.Path, humanBytes(s.Size))
	}
	if !yes {
		return configError(fmt.Errorf("--cleanup removes the old PostgreSQL clusters that upgrades kept: %s; run it again with --yes to remove them", strings.Join(list, ", ")))
	}
	for i, s := range old {
		if err := database.RemoveOldCluster(dataDir, s.Path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", list[i])
	}
	return nil
}
