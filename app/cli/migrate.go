package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"healthcare/app/config"
	"healthcare/app/database"
)

// migrateCommand is `healthcare migrate [--status]`.
func migrateCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	var status bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the pending schema migrations and exit (--status: list them, change nothing)",
		Long: "migrate brings the database schema to this release's version: it applies each pending\n" +
			"migration in its own transaction and prints what it applied. The server does the same at\n" +
			"every start; run it yourself to upgrade before starting new replicas.\n\n" +
			"With --status it lists every migration (version, name, applied or pending, when) and the\n" +
			"database's schema version, and changes nothing. It exits 1 when this release would refuse the\n" +
			"database (a newer schema, or a changed migration).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status {
				return migrationStatus(cmd, a, stdout, stderr)
			}
			return migrate(cmd, a, stdout, stderr)
		},
	}
	cmd.Flags().BoolVar(&status, "status", false, "list the migrations and the schema version; change nothing")
	return cmd
}

// connect is the start of both migrate modes: configuration, privileges, then the database
// (starting the embedded server when configured) without touching its schema.
// The caller must call stop and close db.
func connect(cmd *cobra.Command, a Assets, stderr io.Writer) (ctx context.Context, stop func(), db *database.DB, cfg *config.Config, log *slog.Logger, err error) {
	cfg, err = loadConfig(cmd, a)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	log = newLogger(cfg, stderr)
	if err := prepare(cfg, false, log); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	ctx, stop, db, err = connectPrepared(cfg, "migrate", log)
	return ctx, stop, db, cfg, log, err
}

// connectPrepared takes the data directory's lock for command and connects to the database
// (starting the embedded server when configured) without touching its schema; cfg is loaded and
// prepared. The caller must call stop and close db.
func connectPrepared(cfg *config.Config, command string, log *slog.Logger) (ctx context.Context, stop func(), db *database.DB, err error) {
	lock, err := lockDataDir(cfg, command)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), stopSignals...)
	stop = func() { stopSignals(); lock.Release() }
	db, err = database.Connect(ctx, cfg, log)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, nil, nil, errors.New("interrupted while connecting to the database")
		}
		return nil, nil, nil, err
	}
	return ctx, stop, db, nil
}

// migrate applies the pending migrations, prints them, and stops the embedded server.
func migrate(cmd *cobra.Command, a Assets, stdout, stderr io.Writer) error {
	begin := time.Now()
	ctx, stop, db, cfg, log, err := connect(cmd, a, stderr)
	if err != nil {
		return err
	}
	defer stop()
	defer db.Close()
	applied, err := database.Migrate(ctx, db.Pool, database.MigrateOptions{Log: log, BeforeUpgrade: beforeUpgrade(cfg, db, log)})
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s\n", m.File())
	}
	if err != nil {
		return err
	}
	version, err := database.SchemaVersion(ctx, db.Pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "nothing to apply: the database schema is at version %d, the latest\n", version)
	} else {
		fmt.Fprintf(stdout, "the database schema is now at version %d\n", version)
	}
	if err := db.Close(); err != nil {
		return err
	}
	log.Info("schema migrated", "database", db.Info.Mode, "applied", len(applied), "version", version,
		"took", time.Since(begin).Round(time.Millisecond).String())
	return nil
}

// migrationStatus prints each migration and the schema version; it changes nothing.
func migrationStatus(cmd *cobra.Command, a Assets, stdout, stderr io.Writer) error {
	ctx, stop, db, _, _, err := connect(cmd, a, stderr)
	if err != nil {
		return err
	}
	defer stop()
	defer db.Close()
	states, err := database.MigrationStatus(ctx, db.Pool)
	if err != nil {
		return err
	}
	version, err := database.SchemaVersion(ctx, db.Pool)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	pending := 0
	for _, s := range states {
		state, at := "pending", "-"
		switch {
		case s.Unknown:
			state = "applied (unknown to this release)"
		case s.Modified:
			state = "applied (file changed since)"
		case s.Applied:
			state = "applied"
		default:
			pending++
		}
		if s.Applied {
			at = s.AppliedAt.UTC().Format(time.RFC3339)
			if s.AppliedAt.IsZero() {
				at = "before versioned migrations (recorded at the next migrate)"
			}
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "database schema version: %d (this release: %d)\n", version, database.LatestVersion())
	if err := database.Refusal(states); err != nil {
		return err
	}
	switch pending {
	case 0:
		fmt.Fprintln(stdout, "up to date")
	case 1:
		fmt.Fprintln(stdout, "1 migration pending: run 'healthcare migrate' or start the server to apply it")
	default:
		fmt.Fprintf(stdout, "%d migrations pending: run 'healthcare migrate' or start the server to apply them\n", pending)
	}
	return db.Close()
}
